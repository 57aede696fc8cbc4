/** What every plan is made of: the nodes it names and the steps it predicts, each with its healthy capacity. */

export interface PlanNode {
  readonly instanceId: string;
  readonly slot: string;
  readonly role: 'manager' | 'worker';
}

export interface PlanStep {
  readonly step: string;
  /** What the step does to AWS, in a few words. */
  readonly action: string;
  readonly instanceId?: string;
  readonly weights?: Readonly<Record<string, number>>;
  /** Healthy nodes serving after the step (the surge node included). */
  readonly predictedServing: number;
}
