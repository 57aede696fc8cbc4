import {
  type BakedImage,
  bakedImageTags,
  copiedImageTags,
  imageFailed,
  imageNameFor,
  imageNamePrefixFor,
  imagesToDeregister,
  isBakedImageOf,
} from '../../functions/domain/images';

/** EC2's rule for AMI names. */
const AMI_NAME = /^[A-Za-z0-9()[\] ./\-'@_]{3,128}$/;
const EXECUTION = 'arn:aws:states:eu-west-1:123456789012:execution:zerodown-apim-prod-upgrade-version:upgrade-4.3.0';

/** Images baked a day apart: image(1) is the oldest. */
const image = (day: number, state?: string): BakedImage => ({
  imageId: `ami-${String(day).padStart(17, '0')}`,
  creationDate: new Date(Date.UTC(2025, 0, day)).toISOString(),
  ...(state ? { state } : {}),
});
const ids = (images: readonly BakedImage[]) => images.map((entry) => entry.imageId);

describe('image names', () => {
  it('names the image after the cluster, the version and the execution, ending with the digest', () => {
    const name = imageNameFor('apim-prod', '4.3.0', EXECUTION, '0a1b2c3d');

    expect(name).toBe('zerodown-apim-prod-4.3.0-upgrade-4.3.0-0a1b2c3d');
    expect(name).toMatch(AMI_NAME);
    expect(name.startsWith(imageNamePrefixFor('apim-prod'))).toBe(true);
  });

  it('replaces what AMI names do not allow, such as the colon and plus of a patch id', () => {
    const name = imageNameFor(
      'apim-prod',
      'WSO2-2024:07+12',
      `${EXECUTION.replace(/:[^:]+$/, '')}:patch#1`,
      'ffffffff',
    );

    expect(name).toBe('zerodown-apim-prod-WSO2-2024-07-12-patch-1-ffffffff');
    expect(name).toMatch(AMI_NAME);
  });

  it('stays within 128 characters for the longest version and execution name, without a trailing hyphen', () => {
    const name = imageNameFor(
      'a-very-long-cluster-name-of-forty-chars',
      `v${'9'.repeat(127)}`,
      `arn:aws:states:eu-west-1:123456789012:execution:sm:${'x'.repeat(78)}--`,
      'ffffffff',
    );

    expect(name.length).toBeLessThanOrEqual(128);
    expect(name).toMatch(AMI_NAME);
    expect(name.endsWith('-ffffffff')).toBe(true);
    expect(name).not.toMatch(/--ffffffff$/);
  });

  it('names two executions of the same name in two state machines apart by the digest', () => {
    const patch = imageNameFor('apim-prod', '4.3.0', 'arn:aws:states:r:1:execution:patch-server:run-1', 'aaaaaaaa');
    const upgrade = imageNameFor(
      'apim-prod',
      '4.3.0',
      'arn:aws:states:r:1:execution:upgrade-version:run-1',
      'bbbbbbbb',
    );

    expect(patch).not.toBe(upgrade);
  });
});

describe('image tags', () => {
  it('tags a bake with the cluster, the version, the execution and the node', () => {
    expect(
      bakedImageTags({
        cluster: 'apim-prod',
        version: '4.3.0',
        execution: EXECUTION,
        instanceId: 'i-0123456789abcdef0',
      }),
    ).toEqual({
      'zerodown:cluster': 'apim-prod',
      'zerodown:version': '4.3.0',
      'zerodown:execution': EXECUTION,
      'zerodown:baked-from': 'i-0123456789abcdef0',
    });
  });

  it('gives a copy the source zerodown tags and its id, and none of the other tags', () => {
    const source = {
      ...bakedImageTags({ cluster: 'apim-prod', version: '4.3.0', execution: EXECUTION, instanceId: 'i-1' }),
      'zerodown:previous-image': 'ami-00000000000000001',
      CostCentre: 'apim',
    };

    expect(copiedImageTags(source, 'ami-0123456789abcdef0')).toEqual({
      'zerodown:cluster': 'apim-prod',
      'zerodown:version': '4.3.0',
      'zerodown:execution': EXECUTION,
      'zerodown:baked-from': 'i-1',
      'zerodown:source-image': 'ami-0123456789abcdef0',
    });
  });

  it('tells a bake of the cluster from the operator images and from other clusters', () => {
    const bake = bakedImageTags({ cluster: 'apim-prod', version: '4.3.0', execution: EXECUTION, instanceId: 'i-1' });

    expect(isBakedImageOf('apim-prod', bake)).toBe(true);
    expect(isBakedImageOf('apim-test', bake)).toBe(false);
    expect(isBakedImageOf('apim-prod', { 'zerodown:cluster': 'apim-prod' })).toBe(false);
    expect(isBakedImageOf('apim-prod', {})).toBe(false);
  });

  it('knows the states from which an image never becomes available', () => {
    expect(['failed', 'invalid', 'deregistered', 'error'].every(imageFailed)).toBe(true);
    expect(['pending', 'available'].some(imageFailed)).toBe(false);
  });
});

describe('imagesToDeregister', () => {
  it('deregisters nothing while there are no more images than the retention', () => {
    expect(imagesToDeregister([], 3, [])).toEqual([]);
    expect(imagesToDeregister([image(1), image(2)], 3, [])).toEqual([]);
    expect(imagesToDeregister([image(1), image(2), image(3)], 3, [])).toEqual([]);
  });

  it('deregisters the oldest beyond the retention, whatever order EC2 answers in', () => {
    const images = [image(3), image(1), image(5), image(2), image(4)];

    expect(ids(imagesToDeregister(images, 3, []))).toEqual(ids([image(2), image(1)]));
  });

  it('never deregisters a kept image, even the oldest', () => {
    const images = [image(1), image(2), image(3), image(4), image(5)];

    expect(ids(imagesToDeregister(images, 2, [image(5).imageId, image(1).imageId]))).toEqual(ids([image(3), image(2)]));
  });

  it('keeps the published and the previous image when they are the newest, leaving exactly the retention', () => {
    const images = [image(1), image(2), image(3), image(4)];

    expect(ids(imagesToDeregister(images, 2, [image(4).imageId, image(3).imageId]))).toEqual(ids([image(2), image(1)]));
  });

  it('ignores kept ids that are not among the images, and a missing previous image', () => {
    const images = [image(1), image(2), image(3)];

    expect(ids(imagesToDeregister(images, 2, ['ami-0123456789abcdef0', null, undefined]))).toEqual(ids([image(1)]));
  });

  it('never counts a failed image as retained, and deregisters it unless kept', () => {
    const images = [image(1), image(2), image(3, 'failed'), image(4, 'pending')];

    expect(ids(imagesToDeregister(images, 2, []))).toEqual(ids([image(3), image(1)]));
    expect(ids(imagesToDeregister(images, 2, [image(3).imageId]))).toEqual(ids([image(1)]));
  });

  it('orders images baked in the same second by id, and an image without a date as the oldest', () => {
    const sameSecond = [
      { imageId: 'ami-0000000000000000a', creationDate: '2025-01-01T00:00:00.000Z' },
      { imageId: 'ami-0000000000000000b', creationDate: '2025-01-01T00:00:00.000Z' },
      { imageId: 'ami-0000000000000000c', creationDate: '' },
    ];

    expect(ids(imagesToDeregister(sameSecond, 1, []))).toEqual(['ami-0000000000000000a', 'ami-0000000000000000c']);
  });
});
