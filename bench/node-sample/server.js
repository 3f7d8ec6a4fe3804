// The stand-in for EnableX's own Node sample app server, for scripts/bench.sh (issue 11): what a
// team would run instead of roomgate. One route, POST /api/create-room, makes one upstream
// POST {ENABLEX_API_URL}/rooms with Basic auth and relays the answer. It stores nothing and
// validates nothing. Node's own `http` module only (no npm packages), with a keep-alive agent.
//
//   PORT=8082 ENABLEX_API_URL=http://127.0.0.1:8080/video/v1 ENABLEX_APP_ID=… ENABLEX_APP_KEY=… \
//     node bench/node-sample/server.js
'use strict';
const http = require('http');
const crypto = require('crypto');

for (const name of ['PORT', 'ENABLEX_API_URL', 'ENABLEX_APP_ID', 'ENABLEX_APP_KEY']) {
  if (!process.env[name]) {
    console.error(`node-sample: ${name} is not set`);
    process.exit(2);
  }
}
const rooms = new URL(process.env.ENABLEX_API_URL.replace(/\/+$/, '') + '/rooms');
const authorization = 'Basic ' +
  Buffer.from(`${process.env.ENABLEX_APP_ID}:${process.env.ENABLEX_APP_KEY}`).toString('base64');
const agent = new http.Agent({ keepAlive: true });

function createRoom(name, done) {
  const body = JSON.stringify({
    name,
    owner_ref: crypto.randomUUID(),
    settings: {
      mode: 'group', scheduled: false, adhoc: false, moderators: 1, participants: 10,
      quality: 'SD', max_active_talkers: 6, screen_share: false, canvas: false, abwd: true,
      auto_recording: false, knock: false, wait_for_moderator: false, media_zone: 'XX',
    },
    sip: { enabled: false },
  });
  const request = http.request(rooms, {
    method: 'POST',
    agent,
    headers: {
      Authorization: authorization,
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(body),
    },
  }, (upstream) => {
    const chunks = [];
    upstream.on('data', (chunk) => chunks.push(chunk));
    upstream.on('end', () => done(null, upstream.statusCode, Buffer.concat(chunks)));
    upstream.on('error', done);
  });
  request.on('error', done);
  request.end(body);
}

function answer(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/api/create-room') {
    answer(res, 404, Buffer.from('{"error":"not found"}'));
    return;
  }
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    let name = 'Bench';
    try {
      name = JSON.parse(Buffer.concat(chunks).toString() || '{}').name || name;
    } catch (_) { /* the sample does not validate */ }
    createRoom(name, (err, status, body) => {
      if (err) {
        answer(res, 502, Buffer.from(JSON.stringify({ error: String(err) })));
      } else {
        answer(res, status, body);
      }
    });
  });
});
server.listen(Number(process.env.PORT), '127.0.0.1');
