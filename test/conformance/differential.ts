// One differential check: a byte string through an engine, compared with what llhttp frames from
// it and what the proxy must do with that (expected.ts). Returns the disagreements, none when the
// engine behaved.
import { asForwarded, expectedOutcome, type Expected } from './expected.ts';
import { exchange, type RecordingNode } from './harness.ts';
import { frameRequests } from './llhttp.ts';

export interface CheckResult {
  /** The input framed as an upgrade: not checked here (upgrade.test.ts covers them). */
  skipped: boolean;
  problems: string[];
  expected: Expected | null;
}

export async function checkEngine(port: number, node: RecordingNode, bytes: Buffer, pieces: Buffer[]): Promise<CheckResult> {
  const framing = frameRequests(bytes);
  if (framing.end.kind === 'upgrade') return { skipped: true, problems: [], expected: null };
  const exp = expectedOutcome(framing);
  const mark = node.records.length;
  const mode = exp.after === 'open' ? 'open' : exp.after === 'partial' ? 'halfClose' : 'close';
  const got = await exchange(port, pieces, { expected: exp.heads.length, heads: [...exp.heads, exp.openHeadIsHead], mode });
  const problems: string[] = [];
  if (got.problem) problems.push(got.problem);
  if (!got.closed) problems.push('the connection was not closed');
  const statuses = got.answers.map((a) => a.status);
  const want = [...exp.statuses];
  if (mode === 'open') want.push(200);
  if (mode === 'close' && exp.errorAnswer !== null) want.push(exp.errorAnswer);
  const same = (a: number[], b: number[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  // Also allowed: a refusal of the request the bytes end in, decided from its head alone (then the
  // close); and after a half-close inside a head, node's 400 for the incomplete request.
  const allowed = [want];
  if (exp.openHeadAnswers.length > 0) allowed.push([...want, ...exp.openHeadAnswers]);
  if (mode === 'halfClose') for (const a of [...allowed]) allowed.push([...a, 400]);
  if (!allowed.some((a) => same(statuses, a))) problems.push(`statuses ${JSON.stringify(statuses)}, llhttp's framing says ${allowed.map((a) => JSON.stringify(a)).join(' or ')}`);
  const records = node.records.slice(mark);
  if (mode === 'open') {
    const last = records.pop();
    if (last?.url !== '/__sentinel') problems.push(`the sentinel request was not the next request the node saw (saw ${JSON.stringify(last?.url)})`);
  }
  const hasHost = exp.forwarded.map((f) => f.headers.some(([n]) => n === 'host'));
  const seen = records.map((r, i) => asForwarded(r, hasHost[i] ?? true));
  // The order of fields with different names carries no meaning (RFC 9110 section 5.3); undici sends Host first.
  const hostFirst = (h: Array<[string, string]>) => [...h.filter(([n]) => n === 'host'), ...h.filter(([n]) => n !== 'host')];
  const show = (f: { method: string; url: string; headers: Array<[string, string]>; body: Buffer }) => JSON.stringify({ ...f, headers: hostFirst(f.headers), body: f.body.toString('latin1') });
  if (seen.length !== exp.forwarded.length || seen.some((s, i) => show(s) !== show(exp.forwarded[i]!))) {
    problems.push(`the node saw ${seen.length} request(s):\n  ${seen.map(show).join('\n  ')}\nllhttp's framing says ${exp.forwarded.length}:\n  ${exp.forwarded.map(show).join('\n  ')}`);
  }
  // Every 200 carries the body `r<seq>` of the request the node answered: each must be this client's own, in order.
  const bodies = got.answers.filter((a) => a.status === 200 && a.body !== '').map((a) => a.body);
  const own = node.records.slice(mark).filter((r) => r.method !== 'HEAD').map((r) => `r${r.seq}`);
  if (bodies.length > 0 && bodies.some((b, i) => b !== own[i])) problems.push(`response bodies ${JSON.stringify(bodies)} are not this client's requests ${JSON.stringify(own)}`);
  return { skipped: false, problems, expected: exp };
}
