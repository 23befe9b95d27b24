import { describe, expect, it } from 'vitest';
import { parseAssignValue, parseRegistration, parseWeight, parseJson, loadValueSchema } from '../../../runtime/cluster/values.ts';

const reg = { node_id: 'dtable-server-01', node_url: 'http://a/', local_node_url: 'http://127.0.0.1:5000/' };

describe('value parsing', () => {
  it('accepts a SeaTable registration and keeps unknown fields', () => {
    const r = parseRegistration('dtable-server-01', JSON.stringify({ ...reg, extra: 1 }));
    expect(r).toEqual({ ok: true, value: { ...reg, extra: 1 } });
  });
  it('rejects a registration whose node_id differs from its key', () => {
    expect(parseRegistration('dtable-server-02', JSON.stringify(reg)).ok).toBe(false);
  });
  it('rejects non-JSON without throwing', () => {
    expect(parseRegistration('dtable-server-01', '{oops')).toMatchObject({ ok: false, reason: expect.stringMatching(/not JSON/) });
  });
  it('accepts only node ids as assign values', () => {
    expect(parseAssignValue('dtable-server-07')).toEqual({ ok: true, value: 'dtable-server-07' });
    expect(parseAssignValue('"dtable-server-07"').ok).toBe(false);
    expect(parseAssignValue('').ok).toBe(false);
  });
  it('parses plain-number weights and rejects anything else', () => {
    expect(parseWeight('0')).toEqual({ ok: true, value: 0 });
    expect(parseWeight(' 2.5 ')).toEqual({ ok: true, value: 2.5 });
    expect(parseWeight('-1').ok).toBe(false);
    expect(parseWeight('abc').ok).toBe(false);
    expect(parseWeight('').ok).toBe(false);
  });
  it('rejects load reports with bucket keys that are not bucket names', () => {
    const v = { node_id: 'dtable-server-01', updated_at: 'x', buckets: { zz: { bases: 1, ops_per_sec: 1, bytes: 1 } } };
    expect(parseJson(loadValueSchema, JSON.stringify(v)).ok).toBe(false);
  });
});
