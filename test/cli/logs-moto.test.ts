/**
 * `herd logs` against moto_server: FilterLogEvents over the wire (moto's JSON protocol,
 * its pagination and its quoted-term filter pattern), lines of two instances and two
 * processes in time order.
 */
import { CreateLogGroupCommand, CreateLogStreamCommand, PutLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { startMoto } from '../support/moto';
import { runHerd, testDeps } from './support/harness';
import { createMotoEnvironment, motoClients, type MotoClients } from './support/moto-env';

const moto = startMoto();
let clients: MotoClients;

beforeAll(async () => {
  clients = motoClients(await moto.ready);
}, 30_000);

beforeEach(async () => {
  await moto.server().reset();
  await createMotoEnvironment(clients);
}, 30_000);

async function write(group: string, stream: string, events: { timestamp: number; message: string }[]) {
  await clients.logs.send(new CreateLogGroupCommand({ logGroupName: group })).catch((err: Error) => {
    if (err.name !== 'ResourceAlreadyExistsException') throw err;
  });
  await clients.logs.send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: stream }));
  await clients.logs.send(new PutLogEventsCommand({ logGroupName: group, logStreamName: stream, logEvents: events }));
}

describe('herd logs (moto)', () => {
  test('prints two processes of two instances in time order, and --grep keeps the exact text', async () => {
    const now = Date.now();
    const at = (s: number) => now - s * 1000;
    const iso = (s: number) => new Date(at(s)).toISOString();
    await write('/herd/shop/staging/web', 'i-0aaaaaaaaaaaaaaaa', [{ timestamp: at(50), message: 'GET / 200' }, { timestamp: at(20), message: 'said "hi" there' }]);
    await write('/herd/shop/staging/worker', 'i-0bbbbbbbbbbbbbbbb', [{ timestamp: at(40), message: 'job started' }, { timestamp: at(10), message: 'job done' }]);
    const deps = () => testDeps({ clients: () => clients, now: () => now });
    const run = await runHerd(['logs', 'staging'], deps());
    expect({ code: run.code, err: run.err }).toEqual({ code: 0, err: '' });
    expect(run.out).toBe(
      [
        `${iso(50)} i-0aaaaaaaaaaaaaaaa web | GET / 200`,
        `${iso(40)} i-0bbbbbbbbbbbbbbbb worker | job started`,
        `${iso(20)} i-0aaaaaaaaaaaaaaaa web | said "hi" there`,
        `${iso(10)} i-0bbbbbbbbbbbbbbbb worker | job done`,
        '',
      ].join('\n'),
    );
    const grep = await runHerd(['logs', 'staging', '--grep', 'job done'], deps());
    expect(grep.out).toBe(`${iso(10)} i-0bbbbbbbbbbbbbbbb worker | job done\n`);
  });
});
