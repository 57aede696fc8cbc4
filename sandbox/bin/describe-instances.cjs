#!/usr/bin/env node
// `aws ec2 describe-instances` as the sandbox's nodes have it, for the node kit's peer watch: the request goes to
// $AWS_ENDPOINT_URL (the sandbox's AWS endpoint) with the filters given, and the answer is printed as the CLI prints
// the peer watch's query with `--output text`: one line per instance, instance id, private address and slot tag
// (`None` where the tag is missing), tab-separated. Any other query or output fails, so a kit script that starts
// asking for more is noticed here.
'use strict';
const { DescribeInstancesCommand, EC2Client } = require('@aws-sdk/client-ec2');

const PEER_QUERY = 'Reservations[].Instances[].[InstanceId,PrivateIpAddress,Tags[?Key==`zerodown:slot`]|[0].Value]';

function fail(message) {
  process.stderr.write(`aws (sandbox): ${message}\n`);
  process.exit(252);
}

const options = { filters: [] };
const args = process.argv.slice(2);
for (let index = 0; index < args.length; index++) {
  const option = args[index];
  if (option === '--filters') {
    while (index + 1 < args.length && !args[index + 1].startsWith('--')) options.filters.push(args[++index]);
    continue;
  }
  const value = args[++index];
  if (value === undefined) fail(`${option} needs a value`);
  if (option === '--region') options.region = value;
  else if (option === '--output') options.output = value;
  else if (option === '--query') options.query = value;
  // The CLI's own time limits, of no use against the sandbox's endpoint on this machine.
  else if (option === '--cli-connect-timeout' || option === '--cli-read-timeout') continue;
  else fail(`unknown option ${option}`);
}
if (options.output !== 'text' || options.query !== PEER_QUERY) {
  fail(`describe-instances is available here only with --output text and the peer watch's --query ${PEER_QUERY}`);
}

// The CLI's shorthand: Name=<name>,Values=<value>,<value>...
const Filters = options.filters.map((filter) => {
  const match = /^Name=([^,]+),Values=(.+)$/.exec(filter);
  if (!match) fail(`the filter ${filter} is not Name=...,Values=...`);
  return { Name: match[1], Values: match[2].split(',') };
});

const ec2 = new EC2Client({ endpoint: process.env.AWS_ENDPOINT_URL, region: options.region ?? process.env.AWS_REGION });
ec2.send(new DescribeInstancesCommand({ Filters })).then(
  (answer) => {
    const lines = (answer.Reservations ?? []).flatMap((reservation) =>
      (reservation.Instances ?? []).map((instance) => {
        const slot = (instance.Tags ?? []).find((tag) => tag.Key === 'zerodown:slot')?.Value;
        return [instance.InstanceId ?? 'None', instance.PrivateIpAddress ?? 'None', slot ?? 'None'].join('\t');
      }),
    );
    process.stdout.write(lines.length > 0 ? `${lines.join('\n')}\n` : '');
  },
  (error) => {
    process.stderr.write(
      `An error occurred (${error.name}) when calling the DescribeInstances operation: ${error.message}\n`,
    );
    process.exit(254);
  },
);
