// Loaded with `node --import` (test/orthanc/without-got.test.ts): any import of got in this process
// fails, naming the module that asked for it, so a command that still loads got cannot succeed.
import { register } from 'node:module';

const hook = `export async function resolve(specifier, context, next) {
  if (specifier === 'got' || specifier.startsWith('got/')) throw new Error('got was imported by ' + context.parentURL);
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);
