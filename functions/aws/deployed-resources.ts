import { DescribeImagesCommand, DescribeLaunchTemplateVersionsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { DescribeDocumentCommand, type SSMClient } from '@aws-sdk/client-ssm';

/**
 * Reads of what a cluster's workflows will rely on, for the preflight check: each answers whether the thing exists,
 * and lets any other error (access denied, throttling past the retries) through, so a check never passes by mistake.
 */

const NOT_FOUND = new Set([
  'InvalidDocument',
  'InvalidDocumentVersion',
  'InvalidLaunchTemplateId.NotFound',
  'InvalidLaunchTemplateId.VersionNotFound',
  'InvalidLaunchTemplateId.Malformed',
  'InvalidAMIID.NotFound',
  'InvalidAMIID.Malformed',
]);

async function existsUnless<T>(read: () => Promise<T>, found: (answer: T) => boolean): Promise<boolean> {
  try {
    return found(await read());
  } catch (error) {
    if (error instanceof Error && NOT_FOUND.has(error.name)) return false;
    throw error;
  }
}

export function documentVersionExists(ssm: SSMClient, name: string, version: string) {
  return existsUnless(
    () => ssm.send(new DescribeDocumentCommand({ Name: name, DocumentVersion: version })),
    (answer) => answer.Document !== undefined,
  );
}

export function launchTemplateVersionExists(ec2: EC2Client, launchTemplateId: string, version: string) {
  return existsUnless(
    () =>
      ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: launchTemplateId, Versions: [version] })),
    (answer) => (answer.LaunchTemplateVersions ?? []).length > 0,
  );
}

export function imageExists(ec2: EC2Client, imageId: string) {
  return existsUnless(
    () => ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] })),
    (answer) => (answer.Images ?? []).some((image) => image.State === undefined || image.State === 'available'),
  );
}
