// What `npm run bench` prints and writes, pure: verdicts against the issue's goals, the text
// table of medians and the section of docs/BENCHMARKS.md. No I/O (test/scripts/bench-report.test.ts).

export const BEGIN =
  '<!-- bench:begin (written by `npm run bench`; edits here are overwritten) -->';
export const END = '<!-- bench:end -->';

/** A figure as people read it: thousands separated, decimals by size. */
export function formatNumber(value) {
  if (!Number.isFinite(value)) return 'n/a';
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return value.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

export function formatValue(value, unit) {
  return unit ? `${formatNumber(value)} ${unit}` : formatNumber(value);
}

/**
 * Met or missed, and by how much: the gap in the figure's unit and in % of the target.
 * undefined when the figure has no goal; "not measured" when it has no value.
 */
export function verdict(row) {
  if (!row.goal) return undefined;
  const { op, target } = row.goal;
  const value = row.median;
  if (!Number.isFinite(value)) return { met: false, text: 'not measured' };
  const met = op === '>=' ? value >= target : value <= target;
  const gap = Math.abs(value - target);
  const pct = target === 0 ? '' : ` (${formatNumber((gap / Math.abs(target)) * 100)} %)`;
  const by = `${formatValue(gap, row.unit)}${pct}`;
  if (met) return { met: true, text: `met, ${by} ${op === '>=' ? 'above' : 'under'}` };
  return { met: false, text: `missed by ${by}` };
}

const COLUMNS = ['figure', 'median', 'runs', 'goal', 'verdict'];

function cells(row) {
  const result = verdict(row);
  return [
    row.label,
    formatValue(row.median, row.unit),
    row.values.map((value) => formatNumber(value)).join(' / '),
    row.goal?.text ?? '',
    result?.text ?? '',
  ];
}

/** The medians as an aligned text table, one block per case, for the terminal. */
export function renderTable(groups) {
  const all = groups.flatMap((group) => group.rows.map(cells));
  const widths = COLUMNS.map((name, i) =>
    Math.max(name.length, ...all.map((line) => line[i].length)),
  );
  const line = (values) =>
    values
      .map((value, i) => value.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  const out = [line(COLUMNS), widths.map((width) => '-'.repeat(width)).join('  ')];
  for (const group of groups) {
    if (group.rows.length === 0 && !group.skipped) continue;
    out.push(`[${group.id}] ${group.title}${group.skipped ? `: skipped (${group.skipped})` : ''}`);
    for (const row of group.rows) out.push(line(cells(row)));
  }
  return out.join('\n');
}

/** A Markdown table; `|` in a cell is escaped. */
export function markdownTable(header, lines, align = []) {
  const escape = (cell) => String(cell).replaceAll('|', '\\|');
  const rule = header.map((_, i) => (align[i] === 'right' ? '---:' : '---'));
  return [header, rule, ...lines]
    .map((cellsOf) => `| ${cellsOf.map(escape).join(' | ')} |`)
    .join('\n');
}

/**
 * The bench's section of docs/BENCHMARKS.md: the machine, the command, the date, the load, then
 * per case what it does and its figures with their goals, then every goal met or missed.
 */
export function renderMarkdown(report) {
  const { machine, command, date, runs, quick, loadBefore, loadAfter, groups } = report;
  const underLoad = report.underLoad ?? false;
  const out = [
    '## `npm run bench` (issue 10)',
    '',
    `Taken ${date} with \`${command}\`: every case ${runs} time${runs === 1 ? '' : 's'}, the median of the runs shown${quick ? '; **a `--quick` smoke run** (smaller sizes, figures not comparable with a full run)' : ''}.`,
    '',
    `- Machine: ${machine.cpus} × ${machine.cpu}, ${machine.memGiB} GiB RAM, ${machine.os}, Node ${machine.node}, mosquitto ${machine.mosquitto}, ${machine.redis}.`,
    `- Load average (1, 5, 15 min) before: ${loadBefore}; after: ${loadAfter}.`,
  ];
  if (underLoad) {
    out.push(
      `- **Taken under load**: other work shared the ${machine.cpus} cores during this run, so these figures are pessimistic; re-take them on a quiet machine before judging a goal.`,
    );
  }
  out.push('');
  for (const group of groups) {
    out.push(`### ${group.id}. ${group.title}`, '');
    if (group.describe) out.push(group.describe, '');
    if (group.skipped) {
      out.push(`Skipped: ${group.skipped}.`, '');
      continue;
    }
    if (group.rows.length > 0) {
      out.push(
        markdownTable(
          ['figure', 'median', 'runs', 'goal', 'verdict'],
          group.rows.map((row) =>
            cells(row).map((cell, i) => (i === 4 && cell ? bold(cell) : cell)),
          ),
          ['left', 'right', 'right'],
        ),
        '',
      );
    }
    for (const extra of group.extras ?? []) out.push(extra, '');
  }
  const goals = groups.flatMap((group) => group.rows.filter((row) => row.goal));
  if (goals.length > 0) {
    const met = goals.filter((row) => verdict(row).met).length;
    out.push(
      '### Goals',
      '',
      `${met} of ${goals.length} figures with a goal met in this run.`,
      '',
      markdownTable(
        ['goal', 'figure', 'median', 'verdict'],
        goals.map((row) => [
          row.goal.text,
          row.label,
          formatValue(row.median, row.unit),
          verdict(row).text,
        ]),
        ['left', 'left', 'right'],
      ),
      '',
    );
  }
  for (const note of report.notes ?? []) out.push(note, '');
  return `${out.join('\n').trimEnd()}\n`;
}

function bold(text) {
  return text.startsWith('missed') ? `**${text}**` : text;
}

/**
 * `document` with its bench section replaced by `section` (between BEGIN and END), or, where it
 * has none yet, inserted after the document's title; the rest of the document is kept as it is.
 */
export function spliceSection(document, section) {
  const block = `${BEGIN}\n\n${section.trimEnd()}\n\n${END}`;
  const begin = document.indexOf(BEGIN);
  const end = document.indexOf(END);
  if (begin !== -1 && end > begin) {
    return document.slice(0, begin) + block + document.slice(end + END.length);
  }
  if (begin !== -1 || end !== -1) {
    throw new Error(`docs/BENCHMARKS.md has one bench marker without the other; fix it by hand`);
  }
  const title = /^# .*\n/m.exec(document);
  if (!title) return `${block}\n\n${document}`;
  const at = title.index + title[0].length;
  return `${document.slice(0, at)}\n${block}\n${document.slice(at)}`;
}
