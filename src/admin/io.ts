/** The streams a CLI command talks through, injected so tests drive commands in-process. */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  /** true when a person is at the terminal: prompts and progress bars only then. */
  isTTY: boolean;
  /** How wide tables may be: the terminal's width, else $COLUMNS; undefined: the default width. */
  columns?: number | undefined;
}
