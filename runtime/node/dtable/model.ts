// The in-memory base (a SeaTable "dtable") and the operations that change it. Pure: an operation
// is fully resolved (ids and times chosen) before it is applied, so replaying the log gives the
// same base. Requests are validated into operations in ops-from-request.ts; applyOperation only
// refuses operations that do not fit the current base.
export interface Column {
  key: string;
  name: string;
  type: string;
  width: number;
  data: Record<string, unknown> | null;
}
export type Row = Record<string, unknown> & { _id: string; _ctime: string; _mtime: string };
export interface View {
  _id: string;
  name: string;
  type: string;
}
export interface Table {
  _id: string;
  name: string;
  columns: Column[];
  rows: Row[];
  views: View[];
}
export interface Dtable {
  version: number;
  format_version: number;
  tables: Table[];
}

export type Operation =
  | { op_type: 'insert_table'; table_id: string; table_name: string; columns: Column[]; view_id: string }
  | { op_type: 'rename_table'; table_id: string; table_name: string }
  | { op_type: 'delete_table'; table_id: string }
  | { op_type: 'insert_column'; table_id: string; column: Column }
  | { op_type: 'rename_column'; table_id: string; column_key: string; new_column_name: string }
  | { op_type: 'delete_column'; table_id: string; column_key: string }
  | { op_type: 'insert_rows'; table_id: string; rows: Row[] }
  | { op_type: 'modify_rows'; table_id: string; updates: Array<{ row_id: string; updated: Record<string, unknown> }>; mtime: string }
  | { op_type: 'delete_rows'; table_id: string; row_ids: string[] };

/** An operation that does not fit the base (unknown table, duplicate name...): a user error. */
export class OperationError extends Error {
  override name = 'OperationError';
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export function emptyDtable(): Dtable {
  return { version: 0, format_version: 1, tables: [] };
}

export function tableById(d: Dtable, id: string): Table {
  const t = d.tables.find((x) => x._id === id);
  if (!t) throw new OperationError(`table ${id} not found`, 404);
  return t;
}

export function tableByName(d: Dtable, name: unknown): Table {
  if (typeof name !== 'string' || name === '') throw new OperationError('table_name is required');
  const t = d.tables.find((x) => x.name === name) ?? d.tables.find((x) => x._id === name);
  if (!t) throw new OperationError(`table ${JSON.stringify(name)} not found`, 404);
  return t;
}

/**
 * Checks a new operation (not one replayed from the log, which was checked when it was taken)
 * against ids applyOperation takes on trust: the ids it adds must be new to the base and to the
 * operation. A socket client builds its own operations, so a repeated row _id, table_id or column
 * key would else make two rows, tables or columns that every later operation confuses.
 * Throws OperationError (409 for an id the base has, 400 for one the operation repeats).
 */
export function checkNewIds(d: Dtable, op: Operation): void {
  const unique = (ids: string[], what: string, taken: Set<string>): void => {
    const seen = new Set<string>();
    for (const id of ids) {
      if (taken.has(id)) throw new OperationError(`${what} ${id} already exists`, 409);
      if (seen.has(id)) throw new OperationError(`${what} ${id} appears twice in the operation`);
      seen.add(id);
    }
  };
  switch (op.op_type) {
    case 'insert_table':
      unique([op.table_id], 'table', new Set(d.tables.map((t) => t._id)));
      unique(op.columns.map((c) => c.key), 'column', new Set());
      return;
    case 'insert_column': {
      const t = d.tables.find((x) => x._id === op.table_id);
      if (t) unique([op.column.key], 'column', new Set(t.columns.map((c) => c.key)));
      return;
    }
    case 'insert_rows': {
      const t = d.tables.find((x) => x._id === op.table_id);
      if (t) unique(op.rows.map((r) => r._id), 'row', new Set(t.rows.map((r) => r._id)));
      return;
    }
    default:
      return;
  }
}

/** Apply a resolved operation in place. Throws OperationError (and changes nothing) when it does not fit. */
export function applyOperation(d: Dtable, op: Operation): void {
  switch (op.op_type) {
    case 'insert_table': {
      if (d.tables.some((t) => t.name === op.table_name)) throw new OperationError(`table ${JSON.stringify(op.table_name)} already exists`, 409);
      d.tables.push({ _id: op.table_id, name: op.table_name, columns: op.columns, rows: [], views: [{ _id: op.view_id, name: 'Default View', type: 'table' }] });
      return;
    }
    case 'rename_table': {
      const t = tableById(d, op.table_id);
      if (d.tables.some((x) => x !== t && x.name === op.table_name)) throw new OperationError(`table ${JSON.stringify(op.table_name)} already exists`, 409);
      t.name = op.table_name;
      return;
    }
    case 'delete_table': {
      tableById(d, op.table_id);
      d.tables = d.tables.filter((t) => t._id !== op.table_id);
      return;
    }
    case 'insert_column': {
      const t = tableById(d, op.table_id);
      if (t.columns.some((c) => c.name === op.column.name)) throw new OperationError(`column ${JSON.stringify(op.column.name)} already exists`, 409);
      t.columns.push(op.column);
      return;
    }
    case 'rename_column': {
      const t = tableById(d, op.table_id);
      const c = t.columns.find((x) => x.key === op.column_key);
      if (!c) throw new OperationError(`column ${op.column_key} not found`, 404);
      if (t.columns.some((x) => x !== c && x.name === op.new_column_name)) throw new OperationError(`column ${JSON.stringify(op.new_column_name)} already exists`, 409);
      for (const r of t.rows) {
        if (c.name in r) {
          r[op.new_column_name] = r[c.name];
          delete r[c.name];
        }
      }
      c.name = op.new_column_name;
      return;
    }
    case 'delete_column': {
      const t = tableById(d, op.table_id);
      const c = t.columns.find((x) => x.key === op.column_key);
      if (!c) throw new OperationError(`column ${op.column_key} not found`, 404);
      if (t.columns.length === 1) throw new OperationError('the last column of a table cannot be deleted');
      t.columns = t.columns.filter((x) => x !== c);
      for (const r of t.rows) delete r[c.name];
      return;
    }
    case 'insert_rows': {
      const t = tableById(d, op.table_id);
      const ids = new Set(t.rows.map((r) => r._id));
      for (const r of op.rows) if (ids.has(r._id)) throw new OperationError(`row ${r._id} already exists`, 409);
      for (const r of op.rows) t.rows.push(structuredClone(r));
      return;
    }
    case 'modify_rows': {
      const t = tableById(d, op.table_id);
      const rows = op.updates.map((u) => {
        const r = t.rows.find((x) => x._id === u.row_id);
        if (!r) throw new OperationError(`row ${u.row_id} not found`, 404);
        return r;
      });
      op.updates.forEach((u, i) => Object.assign(rows[i]!, structuredClone(u.updated), { _mtime: op.mtime }));
      return;
    }
    case 'delete_rows': {
      const t = tableById(d, op.table_id);
      for (const id of op.row_ids) if (!t.rows.some((r) => r._id === id)) throw new OperationError(`row ${id} not found`, 404);
      const gone = new Set(op.row_ids);
      t.rows = t.rows.filter((r) => !gone.has(r._id));
      return;
    }
    default: {
      const never: never = op;
      throw new OperationError(`unknown operation ${JSON.stringify((never as { op_type: string }).op_type)}`);
    }
  }
}

/** Rough size of a base in bytes (for load reports). */
export function dtableBytes(d: Dtable): number {
  return JSON.stringify(d).length;
}
