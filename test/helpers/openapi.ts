import { AssertionError } from 'node:assert';
import Ajv2020Module, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { loadOpenApiDocument } from '../../service/src/platform/openapi.js';

/**
 * Checks real responses against service/openapi.yaml, so the document cannot drift from the code.
 * The whole document is added to one Ajv (JSON Schema 2020-12, the dialect of OpenAPI 3.1) under
 * DOCUMENT_ID; each response schema is then compiled once by its JSON Pointer into the document, so
 * `$ref: '#/components/...'` resolves exactly as an OpenAPI tool would resolve it.
 */

// Ajv and ajv-formats are CommonJS whose module.exports is the export itself; under NodeNext the
// type of a default import is the module object, hence `.default` (present at run time as well).
const Ajv2020 = Ajv2020Module.default;
const addFormats = addFormatsModule.default;
type Ajv = InstanceType<typeof Ajv2020>;

const DOCUMENT_ID = 'https://rampart.invalid/openapi.json';
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
/** OpenAPI keywords that are not JSON Schema: known to Ajv so strict mode accepts the document. */
const OPENAPI_KEYWORDS = [
  'openapi',
  'info',
  'jsonSchemaDialect',
  'servers',
  'paths',
  'webhooks',
  'components',
  'security',
  'tags',
  'externalDocs',
  'example',
  'discriminator',
  'xml',
];

type JsonObject = Record<string, unknown>;

interface ResponseRequest {
  method: string;
  path: string;
}

interface ResponseUnderTest {
  status: number;
  headers: Headers;
  body: unknown;
}

interface DocumentedOperation {
  method: string;
  template: string;
  matcher: RegExp;
  templateParams: number;
  operationId: string | undefined;
  responses: JsonObject;
  /** JSON Pointer of the operation's `responses` object. */
  responsesPointer: string;
}

interface Contract {
  document: JsonObject;
  ajv: Ajv;
  /** In document order. */
  operations: DocumentedOperation[];
  /** The order in which path templates are tried. */
  byPrecedence: DocumentedOperation[];
  validators: Map<string, ValidateFunction>;
}

let loaded: Contract | undefined;

function contract(): Contract {
  loaded ??= loadContract();
  return loaded;
}

function loadContract(): Contract {
  const document = loadOpenApiDocument();
  const ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true });
  addFormats(ajv);
  ajv.addVocabulary(OPENAPI_KEYWORDS);
  ajv.addSchema({ ...document, $id: DOCUMENT_ID });

  const operations: DocumentedOperation[] = [];
  for (const [template, pathItem] of Object.entries(asObject(document.paths, 'paths'))) {
    for (const method of HTTP_METHODS) {
      const operation = asObject(pathItem, template)[method];
      if (operation === undefined) continue;
      const op = asObject(operation, `${method} ${template}`);
      const params = template.match(/\{[^}]+\}/g)?.length ?? 0;
      operations.push({
        method,
        template,
        matcher: templateMatcher(template),
        templateParams: params,
        operationId: typeof op.operationId === 'string' ? op.operationId : undefined,
        responses: asObject(op.responses, `${method} ${template} responses`),
        responsesPointer: pointer('paths', template, method, 'responses'),
      });
    }
  }
  // A concrete path wins over a templated one (OpenAPI 3.1 §4.8.8.2); sort is stable.
  const byPrecedence = [...operations].sort((a, b) => a.templateParams - b.templateParams);
  const built: Contract = { document, ajv, operations, byPrecedence, validators: new Map() };
  precompile(built);
  return built;
}

/** Every documented operation, as `{ method: 'GET', path: '/v1/auth/sessions/{id}' }` (upper-case method, path template). */
export function documentedOperations(): Array<{ method: string; path: string }> {
  return contract().operations.map((op) => ({ method: op.method.toUpperCase(), path: op.template }));
}

/**
 * Throws an AssertionError unless the response is one the document describes for this request:
 * a documented operation (or a 404/405 problem for an undocumented path or method), a documented
 * status (else `NXX`, else `default`), its required headers, one of its content types (parameters
 * such as `charset` ignored) and a body that validates against that content type's schema.
 */
export function assertResponseMatchesOpenApi(request: ResponseRequest, response: ResponseUnderTest): void {
  const { byPrecedence, document } = contract();
  const path = pathOf(request.path);
  const method = request.method.toLowerCase();

  const sameTemplate = byPrecedence.find((op) => op.matcher.test(path))?.template;
  const candidates = byPrecedence.filter((op) => op.template === sameTemplate);
  // HEAD is served by every GET route (Koa) with the GET headers and no body.
  const operation =
    candidates.find((op) => op.method === method) ??
    (method === 'head' ? candidates.find((op) => op.method === 'get') : undefined);
  const skipBody = method === 'head' && operation?.method !== 'head';

  if (!operation) {
    const label = `${request.method.toUpperCase()} ${path} (undocumented)`;
    const fallback = ({ 404: 'NotFound', 405: 'MethodNotAllowed' } as Record<number, string>)[response.status];
    if (!fallback || !isObject(asObject(document.components, 'components').responses)) {
      fail(
        `${label} answered ${response.status}: no operation in service/openapi.yaml matches this method and path` +
          (sameTemplate
            ? ` (the path ${sameTemplate} is documented for ${candidates.map((c) => c.method.toUpperCase()).join(', ')})`
            : ''),
      );
    }
    checkResponse(label, pointer('components', 'responses', fallback), response, skipBody);
    return;
  }

  const label = `${operation.method.toUpperCase()} ${operation.template} (${operation.operationId ?? 'no operationId'})`;
  const statusKey = [String(response.status), `${Math.floor(response.status / 100)}XX`, 'default'].find((key) =>
    Object.hasOwn(operation.responses, key),
  );
  if (!statusKey) {
    fail(
      `${label} answered ${response.status}, which is not documented (documented: ${Object.keys(operation.responses).join(', ')})`,
    );
  }
  checkResponse(`${label} → ${response.status}`, `${operation.responsesPointer}/${escapeSegment(statusKey)}`, response, skipBody);
}

function checkResponse(label: string, responsePointer: string, response: ResponseUnderTest, skipBody: boolean): void {
  const { pointer: at, value } = resolve(responsePointer);
  const documented = asObject(value, at);

  for (const name of Object.keys(isObject(documented.headers) ? documented.headers : {})) {
    if (name.toLowerCase() === 'content-type') continue; // OpenAPI ignores a Content-Type header definition
    const header = resolve(pointer(...splitPointer(at), 'headers', name));
    const definition = asObject(header.value, header.pointer);
    const actual = response.headers.get(name);
    if (actual === null) {
      if (definition.required === true) fail(`${label}: the required header ${name} is missing`);
      continue;
    }
    if (!isObject(definition.schema)) continue;
    const schemaPointer = `${header.pointer}/schema`;
    const headerSchema = resolve(schemaPointer).value as JsonObject;
    const numeric = headerSchema.type === 'integer' || headerSchema.type === 'number';
    const candidate = numeric && /^-?\d+(\.\d+)?$/.test(actual.trim()) ? Number(actual) : actual;
    validate(`${label}: header ${name} (${JSON.stringify(actual)})`, schemaPointer, candidate, 'header');
  }

  const content = isObject(documented.content) ? documented.content : {};
  const mediaTypes = Object.keys(content);
  const contentType = response.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase() ?? '';
  if (mediaTypes.length === 0) {
    if (!isEmptyBody(response.body))
      fail(`${label}: documented without a body, but the response has one (${describe(response.body)})`);
    return;
  }
  if (skipBody && contentType === '') return;
  const mediaType = mediaTypes.find((candidate) => mediaTypeMatches(candidate, contentType));
  if (mediaType === undefined) {
    fail(
      `${label}: content type ${JSON.stringify(contentType || '(none)')} is not documented (documented: ${mediaTypes.join(', ')})`,
    );
  }
  if (skipBody || !isObject(content[mediaType]) || !isObject((content[mediaType] as JsonObject).schema)) return;
  validate(`${label} (${mediaType})`, pointer(...splitPointer(at), 'content', mediaType, 'schema'), response.body, 'body');
}

function validate(label: string, schemaPointer: string, data: unknown, dataVar: string): void {
  const { ajv, validators } = contract();
  let validator = validators.get(schemaPointer);
  if (!validator) {
    validator = compile(ajv, schemaPointer);
    validators.set(schemaPointer, validator);
  }
  if (validator(data)) return;
  const errors = validator.errors ?? [];
  fail(
    `${label} does not match ${schemaPointer}: ${ajv.errorsText(errors, { dataVar })}\n` +
      `ajv errors: ${JSON.stringify(errors.map(summariseError))}\n${dataVar}: ${describe(data)}`,
  );
}

function compile(ajv: Ajv, schemaPointer: string): ValidateFunction {
  const fragment = splitPointer(schemaPointer)
    .map((segment) => encodeURIComponent(escapeSegment(segment)))
    .join('/');
  const validator = ajv.getSchema(`${DOCUMENT_ID}#/${fragment}`);
  if (!validator) throw new Error(`service/openapi.yaml: no schema at ${schemaPointer}`);
  return validator;
}

/** Compiles every response body and header schema up front: a broken document fails on load, not mid-test. */
function precompile(built: Contract): void {
  const pointers = new Set<string>();
  const responsePointers = new Set<string>();
  for (const op of built.operations) {
    for (const status of Object.keys(op.responses)) responsePointers.add(`${op.responsesPointer}/${escapeSegment(status)}`);
  }
  for (const name of ['NotFound', 'MethodNotAllowed']) {
    if (isObject(asObject(built.document.components, 'components').responses))
      responsePointers.add(pointer('components', 'responses', name));
  }
  for (const responsePointer of responsePointers) {
    const { pointer: at, value } = resolveIn(built.document, responsePointer);
    const response = asObject(value, at);
    for (const [mediaType, media] of Object.entries(isObject(response.content) ? response.content : {})) {
      if (isObject(media) && isObject(media.schema)) pointers.add(pointer(...splitPointer(at), 'content', mediaType, 'schema'));
    }
    for (const name of Object.keys(isObject(response.headers) ? response.headers : {})) {
      const header = resolveIn(built.document, pointer(...splitPointer(at), 'headers', name));
      if (isObject(header.value) && isObject(header.value.schema)) pointers.add(`${header.pointer}/schema`);
    }
  }
  for (const schemaPointer of pointers) built.validators.set(schemaPointer, compile(built.ajv, schemaPointer));
}

/** Follows `$ref`s (local ones only) until a real object; returns it with its own pointer. */
function resolve(start: string): { pointer: string; value: unknown } {
  return resolveIn(contract().document, start);
}

function resolveIn(document: JsonObject, start: string): { pointer: string; value: unknown } {
  let at = start;
  for (let hops = 0; hops < 20; hops++) {
    const value = valueAt(document, at);
    if (!isObject(value) || typeof value.$ref !== 'string') return { pointer: at, value };
    if (!value.$ref.startsWith('#/'))
      throw new Error(`service/openapi.yaml: only local $refs are supported (${value.$ref} at ${at})`);
    at = decodeURIComponent(value.$ref.slice(1));
  }
  throw new Error(`service/openapi.yaml: $ref cycle at ${start}`);
}

function valueAt(document: JsonObject, at: string): unknown {
  let value: unknown = document;
  for (const segment of splitPointer(at)) {
    if (!isObject(value) && !Array.isArray(value)) throw new Error(`service/openapi.yaml: nothing at ${at}`);
    value = (value as Record<string, unknown>)[segment];
  }
  if (value === undefined) throw new Error(`service/openapi.yaml: nothing at ${at}`);
  return value;
}

function templateMatcher(template: string): RegExp {
  const source = template
    .split(/(\{[^}]+\})/)
    .map((part) => (/^\{[^}]+\}$/.test(part) ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`);
}

function pathOf(requestPath: string): string {
  const path = /^[a-z]+:\/\//i.test(requestPath) ? new URL(requestPath).pathname : requestPath;
  return path.split(/[?#]/)[0] || '/';
}

function mediaTypeMatches(documented: string, actual: string): boolean {
  const doc = documented.toLowerCase();
  if (doc === actual || doc === '*/*') return true;
  return doc.endsWith('/*') && actual.startsWith(doc.slice(0, -1));
}

function isEmptyBody(body: unknown): boolean {
  return body === undefined || body === null || body === '';
}

function pointer(...segments: string[]): string {
  return segments.map((s) => `/${escapeSegment(s)}`).join('');
}

function escapeSegment(segment: string): string {
  return segment.replaceAll('~', '~0').replaceAll('/', '~1');
}

function splitPointer(at: string): string[] {
  return at === ''
    ? []
    : at
        .slice(1)
        .split('/')
        .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function summariseError(error: ErrorObject): Pick<ErrorObject, 'instancePath' | 'keyword' | 'message' | 'params'> {
  return { instancePath: error.instancePath, keyword: error.keyword, message: error.message, params: error.params };
}

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asObject(value: unknown, where: string): JsonObject {
  if (!isObject(value)) throw new Error(`service/openapi.yaml: expected an object at ${where}`);
  return value;
}

function fail(message: string): never {
  throw new AssertionError({ message, stackStartFn: assertResponseMatchesOpenApi });
}
