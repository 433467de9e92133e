/**
 * Checks of gitignore rules (gitignore(5)) for lines that git accepts but that can never match anything:
 * git gives up on such a pattern silently, fedsync names it. Matching itself is the `ignore` package's job
 * (src/scan/ignore.ts); this only finds the mistakes.
 */

/** The POSIX classes git's wildmatch knows inside a bracket expression (`[[:digit:]]`). */
const POSIX_CLASSES = new Set([
  "alnum",
  "alpha",
  "blank",
  "cntrl",
  "digit",
  "graph",
  "lower",
  "print",
  "punct",
  "space",
  "upper",
  "xdigit",
]);

/** The line without its trailing spaces, unless a backslash escapes them (git's trim_trailing_spaces). */
export function trimTrailingSpaces(line: string): string {
  let end = line.length;
  let lastSpace = -1;
  for (let i = 0; i < end; i++) {
    const char = line[i];
    if (char === " ") {
      if (lastSpace === -1) lastSpace = i;
    } else if (char === "\\") {
      i++;
      if (i >= end) return line;
      lastSpace = -1;
    } else {
      lastSpace = -1;
    }
  }
  if (lastSpace !== -1) end = lastSpace;
  return line.slice(0, end);
}

/** Whether the text ends in a backslash that escapes nothing. */
function endsInLoneBackslash(text: string): boolean {
  let count = 0;
  while (text[text.length - 1 - count] === "\\") count++;
  return count % 2 === 1;
}

/**
 * Why the bracket expression opening at `pattern[start]` makes the pattern match nothing, or its end (the
 * index of its closing `]`). Follows git's wildmatch: a `]` right after `[` or `[!` is a member, `\` escapes
 * a member, `[:name:]` names a class.
 */
function scanBracket(pattern: string, start: number): number | string {
  const unclosed = 'has a "[" without a closing "]" (write "\\[" for a literal "[")';
  let i = start + 1;
  if (pattern[i] === "!" || pattern[i] === "^") i++;
  // Whether the previous member can start a range (a plain character, not a range or a class).
  let rangeStart = false;
  for (let first = true; ; first = false) {
    const char = pattern[i];
    if (char === undefined) return unclosed;
    if (char === "]" && !first) return i;
    if (char === "\\") {
      i++;
      rangeStart = true;
    } else if (char === "-" && rangeStart && pattern[i + 1] !== undefined && pattern[i + 1] !== "]") {
      i += pattern[i + 1] === "\\" ? 2 : 1;
      rangeStart = false;
    } else if (char === "[" && pattern[i + 1] === ":") {
      const close = pattern.indexOf("]", i + 2);
      if (close === -1) return unclosed;
      if (close > i + 2 && pattern[close - 1] === ":") {
        const name = pattern.slice(i + 2, close - 1);
        if (!POSIX_CLASSES.has(name)) return `names an unknown character class "[:${name}:]"`;
        i = close;
        rangeStart = false;
      } else {
        rangeStart = true;
      }
    } else {
      rangeStart = true;
    }
    i++;
  }
}

/**
 * Why one rule line (already known not to be blank or a comment) can never match, or undefined when it is
 * a working rule.
 */
function patternProblem(line: string): string | undefined {
  if (line.includes("\0")) return "contains a NUL character";
  const trimmed = trimTrailingSpaces(line);
  const body = trimmed.startsWith("!") ? trimmed.slice(1) : trimmed;
  if (endsInLoneBackslash(body)) return 'ends in a lone "\\", which matches nothing';
  const withoutDirSlash = body.endsWith("/") ? body.slice(0, -1) : body;
  if (endsInLoneBackslash(withoutDirSlash)) return 'ends in "\\/", which matches nothing';
  if (withoutDirSlash.replace(/^\//, "") === "") {
    return trimmed.startsWith("!") ? 'is a lone "!", which matches nothing' : "matches nothing";
  }
  for (let i = 0; i < body.length; i++) {
    if (body[i] === "\\") i++;
    else if (body[i] === "[") {
      const scanned = scanBracket(body, i);
      if (typeof scanned === "string") return scanned;
      i = scanned;
    }
  }
  return undefined;
}

/** Whether a line of an ignore file holds no rule: blank (spaces only) or a comment. */
export function isBlankOrComment(line: string): boolean {
  return line.startsWith("#") || trimTrailingSpaces(line) === "";
}

/** Why a line of an ignore file is a rule that can never match, or undefined (a rule, a comment, a blank). */
export function ignoreLineProblem(line: string): string | undefined {
  return isBlankOrComment(line) ? undefined : patternProblem(line);
}

/**
 * Why a rule of the config's `ignore` list is wrong, or undefined. Stricter than a line of a file: a blank
 * rule or a comment in the list is a mistake, as is a line break.
 */
export function configIgnoreRuleProblem(rule: string): string | undefined {
  if (/[\r\n]/.test(rule)) return "must be one line";
  if (trimTrailingSpaces(rule) === "") return "must not be empty";
  if (rule.startsWith("#")) {
    return 'starts with "#", which makes it a comment; write "\\#" to match a name starting with "#"';
  }
  return patternProblem(rule);
}
