import { closeAllFakeNodes } from '../../local/fake-nodes';
import { removeAllFaults } from '../../local/faults';

/** Closes every fake node after each test in the calling file. */
export function useFakeNodes(): void {
  afterEach(closeAllFakeNodes);
}

/** Removes every fault after each test in the calling file. */
export function useFaults(): void {
  afterEach(removeAllFaults);
}
