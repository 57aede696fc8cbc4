import { restoreCommandFor, snapshotIdentifierFor, snapshotPrefixFor } from '../../functions/domain/database';

const RDS_SNAPSHOT_ID = /^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,254}$/;

describe('database snapshot names', () => {
  it('names the snapshot after the cluster and the execution, ending with the digest', () => {
    const id = snapshotIdentifierFor(
      'apim-prod',
      'arn:aws:states:eu-west-1:123456789012:execution:zerodown-apim-prod-upgrade-version:upgrade_4.3.0__try.2',
      '0a1b2c3d',
    );
    expect(id).toBe('zerodown-apim-prod-upgrade-4-3-0-try-2-0a1b2c3d');
    expect(id).toMatch(RDS_SNAPSHOT_ID);
    expect(id.startsWith(snapshotPrefixFor('apim-prod'))).toBe(true);
  });

  it('stays a valid identifier for the longest execution name, without a trailing or double hyphen', () => {
    const id = snapshotIdentifierFor(
      'a-very-long-cluster-name-of-forty-chars',
      `arn:aws:states:eu-west-1:123456789012:execution:sm:${'x-'.repeat(40)}${'y'.repeat(120)}--`,
      'ffffffff',
    );
    expect(id.length).toBeLessThanOrEqual(255);
    expect(id).toMatch(RDS_SNAPSHOT_ID);
    expect(id.endsWith('-ffffffff')).toBe(true);
  });

  it('gives the command that restores each engine', () => {
    expect(restoreCommandFor('rds-instance', 'apim-db', 'snap-1')).toContain(
      'restore-db-instance-from-db-snapshot --db-snapshot-identifier snap-1',
    );
    expect(restoreCommandFor('aurora-cluster', 'apim-db', 'snap-1')).toContain(
      'restore-db-cluster-from-snapshot --snapshot-identifier snap-1',
    );
  });
});
