/** Malformed and abusive multipart bodies: always a 4xx problem, never a crash or a hang. */
import t from 'tap';
import request from 'supertest';
import { makePng } from '../images/fixtures';
import { isProblem, setup } from './helpers';

const B = 'XyZzY';
const CT = `multipart/form-data; boundary=${B}`;
const part = (headers: string, body: string | Buffer) => Buffer.concat([Buffer.from(`--${B}\r\n${headers}\r\n\r\n`), Buffer.from(body), Buffer.from('\r\n')]);
const end = Buffer.from(`--${B}--\r\n`);
const filePart = (name: string, body: Buffer) => part(`Content-Disposition: form-data; name="${name}"; filename="a.png"\r\nContent-Type: image/png`, body);
const fieldPart = (name: string, value: string, extra = '') => part(`Content-Disposition: form-data; name="${name}"${extra}`, value);

t.test('malformed multipart bodies answer 4xx problem+json and leave the server running', async (t) => {
  const { server, engine } = await setup(t);
  const img = await makePng(4, 4);
  const send = (body: Buffer, contentType = CT) => request(server).post('/v1/attack/targeted?target=1').set('Content-Type', contentType).send(body);

  const cases: [string, Buffer, string?][] = [
    ['no boundary parameter', Buffer.concat([filePart('image', img), end]), 'multipart/form-data'],
    ['garbage instead of parts', Buffer.from('this is not multipart at all')],
    ['cut off inside the file', Buffer.concat([filePart('image', img)]).subarray(0, 60)],
    ['no closing boundary', Buffer.concat([filePart('image', img)])],
    ['part without Content-Disposition', Buffer.concat([part('Content-Type: image/png', img), end])],
    ['two files', Buffer.concat([filePart('image', img), filePart('image', img), end])],
    ['__proto__ field', Buffer.concat([fieldPart('__proto__', 'x'), filePart('image', img), end])],
    ['bad JSON field', Buffer.concat([part('Content-Disposition: form-data; name="eps"\r\nContent-Type: application/json', '{nope'), filePart('image', img), end])],
    ['JSON object field', Buffer.concat([part('Content-Disposition: form-data; name="eps"\r\nContent-Type: application/json', '{"a":1}'), filePart('image', img), end])],
    ['empty body', Buffer.alloc(0)],
    ['only the closing boundary', end],
  ];
  for (const [name, body, ct] of cases) {
    const res = await send(body, ct);
    t.ok(res.status >= 400 && res.status < 500, `${name}: ${res.status} ${res.body?.type ?? ''} ${res.body?.detail ?? ''}`);
    t.match(res.headers['content-type'], /^application\/problem\+json/, `${name}: problem+json`);
  }

  const many = Buffer.concat([...Array.from({ length: 30 }, (_, i) => fieldPart(`f${i}`, 'x')), filePart('image', img), end]);
  isProblem(t, await send(many), 413, 'payload-too-large');
  isProblem(t, await send(Buffer.concat([filePart('image', img), filePart('image', img), end])), 400, 'invalid-parameter', 'image');

  // A well-formed hand-built body still works, with the fields before or after the file.
  let res = await send(Buffer.concat([fieldPart('target', '2'), filePart('image', img), fieldPart('eps', '3'), end]));
  t.equal(res.status, 200, res.text);
  t.match(engine.attackCalls.at(-1)!.params, { target: 2, eps: 3 });
  res = await request(server).get('/healthz');
  t.equal(res.status, 200, 'still alive');
});
