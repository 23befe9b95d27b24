// User errors in cluster.yaml: typed, positioned, printed without a stack trace.

export interface ClusterIssue {
  /** The config file as the user named it, e.g. `cluster.yaml`. */
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly col: number;
  readonly message: string;
  readonly hint?: string;
}

/** `cluster.yaml:LINE:COL: message`, then the hint (if any) on the next line. */
export function formatIssue(issue: ClusterIssue, severity: 'error' | 'warning' = 'error'): string {
  const head = `${issue.file}:${issue.line}:${issue.col}: ${severity === 'warning' ? 'warning: ' : ''}${issue.message}`;
  return issue.hint ? `${head}\n  hint: ${issue.hint}` : head;
}

/** cluster.yaml is invalid; carries every problem found, in file order. */
export class ClusterConfigError extends Error {
  override name = 'ClusterConfigError';
  constructor(
    readonly issues: readonly ClusterIssue[],
    readonly warnings: readonly ClusterIssue[] = [],
  ) {
    super(issues.map((i) => formatIssue(i)).join('\n'));
  }

  /** Every error, then every warning, one formatted issue per entry. */
  format(): string {
    return [...this.issues.map((i) => formatIssue(i)), ...this.warnings.map((w) => formatIssue(w, 'warning'))].join('\n');
  }
}
