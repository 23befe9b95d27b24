// SeaTable REST request bodies → resolved operations, and the response shapes the npm client
// `seatable-api` reads. Pure apart from id/time generation. Rows are keyed by column name in
// requests and responses; values for unknown columns are ignored, as SeaTable does.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { OperationError, tableByName, type Column, type Dtable, type Operation, type Row, type Table } from './model.ts';

const ROW_ID = /^[A-Za-z0-9_-]{1,64}$/;
export const newRowId = () => randomBytes(16).toString('base64url').slice(0, 22);
const newShortId = () => randomBytes(3).toString('base64url').slice(0, 4);

const rowData = z.record(z.string(), z.unknown());
const columnSpec = z.object({ column_name: z.string().min(1), column_type: z.string().default('text'), column_data: z.record(z.string(), z.unknown()).nullish() });

export const bodies = {
  addTable: z.object({ table_name: z.string().min(1).max(255), lang: z.string().optional(), columns: z.array(columnSpec).nullish() }),
  renameTable: z.object({ table_name: z.string().min(1), new_table_name: z.string().min(1).max(255) }),
  deleteTable: z.object({ table_name: z.string().min(1) }),
  appendRow: z.object({ table_name: z.string().min(1), row: rowData, anchor_row_id: z.string().optional(), apply_default: z.boolean().optional() }),
  updateRow: z.object({ table_name: z.string().min(1), row_id: z.string().min(1), row: rowData }),
  deleteRow: z.object({ table_name: z.string().min(1), row_id: z.string().min(1) }),
  batchAppend: z.object({ table_name: z.string().min(1), rows: z.array(rowData).min(1).max(1000), apply_default: z.boolean().optional() }),
  batchUpdate: z.object({ table_name: z.string().min(1), updates: z.array(z.object({ row_id: z.string().min(1), row: rowData })).min(1).max(1000) }),
  batchDelete: z.object({ table_name: z.string().min(1), row_ids: z.array(z.string().min(1)).min(1).max(10000) }),
  insertColumn: z.object({ table_name: z.string().min(1), column_name: z.string().min(1).max(255), column_type: z.string().default('text'), column_data: z.record(z.string(), z.unknown()).nullish() }),
  columnPut: z.object({ op_type: z.literal('rename_column'), table_name: z.string().min(1), column: z.string().min(1), new_column_name: z.string().min(1).max(255) }),
  deleteColumn: z.object({ table_name: z.string().min(1), column: z.string().min(1) }),
};

/** Validate a body against a schema; a mismatch is a 400 naming the fields. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const r = schema.safeParse(body ?? {});
  if (!r.success) throw new OperationError(`invalid request body: ${r.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

function newColumnKey(t: Table): string {
  for (;;) {
    const k = newShortId();
    if (!t.columns.some((c) => c.key === k)) return k;
  }
}

function makeColumns(specs: Array<z.infer<typeof columnSpec>> | null | undefined): Column[] {
  const list = specs && specs.length > 0 ? specs : [{ column_name: 'Name', column_type: 'text', column_data: null }];
  const names = new Set<string>();
  return list.map((s, i) => {
    if (names.has(s.column_name)) throw new OperationError(`duplicate column ${JSON.stringify(s.column_name)}`);
    names.add(s.column_name);
    return { key: i === 0 ? '0000' : `c${String(i).padStart(3, '0')}`, name: s.column_name, type: s.column_type, width: 200, data: s.column_data ?? null };
  });
}

/** Keep values of known columns only; system fields other than a client-chosen `_id` are dropped. */
function cleanRow(t: Table, data: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of t.columns) if (c.name in data) out[c.name] = data[c.name];
  return out;
}

export function resolveRow(t: Table, data: Record<string, unknown>, now: string): Row {
  const id = data._id;
  if (id !== undefined && (typeof id !== 'string' || !ROW_ID.test(id))) throw new OperationError('row _id must be 1-64 letters, digits, _ or -');
  return { _id: (id as string | undefined) ?? newRowId(), _ctime: now, _mtime: now, ...cleanRow(t, data) };
}

export function addTableOp(d: Dtable, b: z.infer<typeof bodies.addTable>): Operation {
  if (d.tables.some((t) => t.name === b.table_name)) throw new OperationError(`table ${JSON.stringify(b.table_name)} already exists`, 409);
  let id = newShortId();
  while (d.tables.some((t) => t._id === id)) id = newShortId();
  return { op_type: 'insert_table', table_id: id, table_name: b.table_name, columns: makeColumns(b.columns), view_id: '0000' };
}

export function insertColumnOp(d: Dtable, b: z.infer<typeof bodies.insertColumn>): Operation {
  const t = tableByName(d, b.table_name);
  return { op_type: 'insert_column', table_id: t._id, column: { key: newColumnKey(t), name: b.column_name, type: b.column_type, width: 200, data: b.column_data ?? null } };
}

export function columnByNameOrKey(t: Table, ref: string): Column {
  const c = t.columns.find((x) => x.name === ref) ?? t.columns.find((x) => x.key === ref);
  if (!c) throw new OperationError(`column ${JSON.stringify(ref)} not found`, 404);
  return c;
}

export function rowById(t: Table, id: string): Row {
  const r = t.rows.find((x) => x._id === id);
  if (!r) throw new OperationError(`row ${JSON.stringify(id)} not found`, 404);
  return r;
}

export function modifyRowsOp(t: Table, updates: Array<{ row_id: string; row: Record<string, unknown> }>, now: string): Operation {
  for (const u of updates) rowById(t, u.row_id);
  return { op_type: 'modify_rows', table_id: t._id, updates: updates.map((u) => ({ row_id: u.row_id, updated: cleanRow(t, u.row) })), mtime: now };
}

export function deleteRowsOp(t: Table, ids: string[]): Operation {
  for (const id of ids) rowById(t, id);
  return { op_type: 'delete_rows', table_id: t._id, row_ids: [...new Set(ids)] };
}

export function tableMetadata(t: Table): object {
  return { _id: t._id, name: t.name, columns: t.columns, views: t.views };
}

export function metadata(d: Dtable): object {
  return { tables: d.tables.map(tableMetadata), version: d.version, format_version: d.format_version };
}

/** GET rows/: `start`, `limit`, `order_by` (column name), `direction`. */
export function listRows(t: Table, q: Record<string, string | undefined>): Row[] {
  let rows = t.rows;
  if (q.order_by) {
    const col = columnByNameOrKey(t, q.order_by).name;
    const dir = q.direction === 'desc' ? -1 : 1;
    rows = [...rows].sort((a, b) => {
      const x = a[col] as never;
      const y = b[col] as never;
      return x === y ? 0 : x === undefined ? 1 : y === undefined ? -1 : x < y ? -dir : dir;
    });
  }
  const start = intParam(q.start, 'start', 0);
  const limit = intParam(q.limit, 'limit', 1000);
  return rows.slice(start, start + limit);
}

function intParam(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined || v === '') return dflt;
  if (!/^\d{1,9}$/.test(v)) throw new OperationError(`${name} must be a non-negative integer`);
  return Number(v);
}

const column = z.object({ key: z.string().min(1), name: z.string().min(1), type: z.string().min(1), width: z.number(), data: z.record(z.string(), z.unknown()).nullable() });
const row = z.looseObject({ _id: z.string().regex(ROW_ID), _ctime: z.string(), _mtime: z.string() });
const tid = z.string().min(1);

/** An operation sent by a socket.io client (`update-dtable`): the resolved form the log stores. */
export const operationSchema = z.discriminatedUnion('op_type', [
  z.object({ op_type: z.literal('insert_table'), table_id: tid, table_name: z.string().min(1), columns: z.array(column).min(1), view_id: z.string().min(1) }),
  z.object({ op_type: z.literal('rename_table'), table_id: tid, table_name: z.string().min(1) }),
  z.object({ op_type: z.literal('delete_table'), table_id: tid }),
  z.object({ op_type: z.literal('insert_column'), table_id: tid, column }),
  z.object({ op_type: z.literal('rename_column'), table_id: tid, column_key: z.string().min(1), new_column_name: z.string().min(1) }),
  z.object({ op_type: z.literal('delete_column'), table_id: tid, column_key: z.string().min(1) }),
  z.object({ op_type: z.literal('insert_rows'), table_id: tid, rows: z.array(row).min(1) }),
  z.object({ op_type: z.literal('modify_rows'), table_id: tid, updates: z.array(z.object({ row_id: z.string().min(1), updated: z.record(z.string(), z.unknown()) })).min(1), mtime: z.string() }),
  z.object({ op_type: z.literal('delete_rows'), table_id: tid, row_ids: z.array(z.string().min(1)).min(1) }),
]);
