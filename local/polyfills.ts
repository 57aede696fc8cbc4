/**
 * aws-local-stepfunctions 3 uses `Promise.withResolvers`, which Node gained in version 22. Lambdas run on
 * nodejs24.x; this lets the same state machines run locally on Node 20.
 */
export function installPromiseWithResolvers(): void {
  if ('withResolvers' in Promise) return;
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T>() {
      let resolve!: (value: T | PromiseLike<T>) => void;
      let reject!: (reason?: unknown) => void;
      const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}
