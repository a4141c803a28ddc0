/**
 * Key paths into the config document: `['routes', 0, 'match', 'host']`, printed as
 * `routes[0].match.host`. Numbers index lists, strings name keys.
 */

export type Path = readonly (string | number)[];

/** A key that can be printed after a dot without quoting: `whoami`, `x-mse-tag`, `stable`. */
const PLAIN_KEY = /^[A-Za-z_$][\w$-]*$/;

/** `routes[0].rules[2].percent`; keys that are not plain are quoted: `services["a.b"].fallback`. */
export function formatPath(path: Path): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (PLAIN_KEY.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/**
 * Turns an ajv `instancePath` (a JSON pointer, `/routes/0/match`) into a Path, using the data to tell
 * list indexes from keys that happen to be digits (a service named `1`).
 */
export function pointerToPath(pointer: string, data: unknown): Path {
  if (pointer === '') return [];
  const path: (string | number)[] = [];
  let node = data;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      const index = Number(key);
      path.push(index);
      node = node[index];
    } else {
      path.push(key);
      const isObject = typeof node === 'object' && node !== null;
      node = isObject && Object.hasOwn(node as object, key) ? (node as Record<string, unknown>)[key] : undefined;
    }
  }
  return path;
}
