/** Machine names: they appear in object keys and file names. */
export const MACHINE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Set names: they appear in object keys, file names and shell completions. */
export const SET_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
