// A tus 1.0 server for the upload tests: @tus/server with @tus/file-store,
// as scripts/install-tus-server.sh installs them (pinned) under
// <target>/tools/tus. Driven by tests/src/tus_server.rs.
//
//   node server.mjs --modules DIR --store DIR [--port N]
//
// --modules  the directory holding node_modules/@tus/* (ESM ignores
//            NODE_PATH, so the packages are resolved from there explicitly)
// --store    where file-store keeps each upload: ID (the bytes) and ID.json
// --port     0 (the default, also $TUS_PORT) picks a free port
//
// Prints `listening 127.0.0.1:PORT` as its first line once it accepts
// connections. Exits when its stdin closes, so a test process that dies
// without running destructors does not leave a server behind.
//
// Location headers are absolute URLs built from the request's Host header
// (BaseHandler.generateUrl); Forwarded/X-Forwarded-* are ignored
// (respectForwardedHeaders off), so a proxy that forwards Host unchanged
// gets URLs pointing at itself.

import {createRequire} from 'node:module'
import path from 'node:path'
import {parseArgs} from 'node:util'
import {pathToFileURL} from 'node:url'

const {values} = parseArgs({
  options: {
    modules: {type: 'string'},
    store: {type: 'string'},
    port: {type: 'string', default: process.env.TUS_PORT ?? '0'},
  },
})
if (!values.modules || !values.store) {
  console.error('usage: node server.mjs --modules DIR --store DIR [--port N]')
  process.exit(2)
}
const port = Number.parseInt(values.port, 10)
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`server.mjs: bad port ${values.port}`)
  process.exit(2)
}

const require = createRequire(path.join(path.resolve(values.modules), 'package.json'))
const load = (name) => import(pathToFileURL(require.resolve(name)).href)
const {Server} = await load('@tus/server')
const {FileStore} = await load('@tus/file-store')

const server = new Server({
  path: '/files',
  datastore: new FileStore({directory: path.resolve(values.store)}),
  respectForwardedHeaders: false,
})

const http = server.listen({host: '127.0.0.1', port}, () => {
  const address = http.address()
  process.stdout.write(`listening ${address.address}:${address.port}\n`)
})
http.on('error', (error) => {
  console.error(`server.mjs: ${error.message}`)
  process.exit(1)
})

process.stdin.resume()
process.stdin.on('end', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
