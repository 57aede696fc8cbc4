/** Small text-formatting helpers shared by the bench scripts. */

export const KIB = 1024;

/** Bytes as kibibytes with one decimal, such as `212.4`. */
export function kb(bytes: number): string {
  return (bytes / KIB).toFixed(1);
}

/** Bytes as whole kibibytes with the unit, such as `540KB`. */
export function kbShort(bytes: number): string {
  return `${Math.round(bytes / KIB)}KB`;
}

/** Milliseconds with one decimal, such as `87.3`. */
export function ms(value: number): string {
  return value.toFixed(1);
}

export function mark(ok: boolean): string {
  return ok ? '✓' : '✗';
}

export type Align = 'left' | 'right';

/** Renders rows as a plain-text table with a header and a rule under it. Columns are left-aligned unless told. */
export function table(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  align: readonly Align[] = [],
): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    widths
      .map((width, column) => {
        const cell = cells[column] ?? '';
        return align[column] === 'right' ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}
