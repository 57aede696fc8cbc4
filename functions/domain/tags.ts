/**
 * The tags zerodown reads and writes on instances, listener rules, snapshots and baked images. They are part of the contract with the
 * operator's account (IAM conditions in the stacks match on them), so each is spelled once, here.
 */

/** Every instance and rule of a cluster carries its cluster's name. */
export const CLUSTER_TAG_KEY = 'zerodown:cluster';
/** What an instance is to its cluster: `manager`, `worker`, `surge`, `dr` or `lost`. */
export const ROLE_TAG_KEY = 'zerodown:role';
/** The traffic slot a permanent node fills (`a`, `b`, ...). */
export const SLOT_TAG_KEY = 'zerodown:slot';
/** The execution that launched a surge or DR node, so a retried launch finds its node. */
export const EXECUTION_TAG_KEY = 'zerodown:execution';
/** On a database snapshot or a baked image: the version the cluster ran (snapshot) or runs (image). */
export const VERSION_TAG_KEY = 'zerodown:version';
/** On a baked image and its snapshots: the node it was baked from. Only zerodown's bakes carry it. */
export const BAKED_FROM_TAG_KEY = 'zerodown:baked-from';
/** On a baked image's copy in the DR region and its snapshots: the image it was copied from. */
export const SOURCE_IMAGE_TAG_KEY = 'zerodown:source-image';
/**
 * On a published image: what its image parameter held before it, or `none`, so a retried publish still knows what
 * to keep for a rollback.
 */
export const PREVIOUS_IMAGE_TAG_KEY = 'zerodown:previous-image';
/** On a listener rule: the service the rule exposes. */
export const EXPOSES_TAG_KEY = 'zerodown:exposes';

/** A node launched beside the permanent ones for the length of a maintenance workflow. */
export const SURGE_ROLE = 'surge';
/** A node of the cold standby in the DR region. */
export const DR_ROLE = 'dr';
/** A permanent node that failover replaced; kept for examination. */
export const LOST_ROLE = 'lost';
