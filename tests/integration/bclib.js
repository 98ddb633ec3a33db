// Shared helpers for integration tests written for node (kafkajs): start a breadcrumb-broker
// on a free loopback port with its own data directory, wait for conditions with deadlines,
// stop or kill it. require(process.env.BC_ROOT + '/tests/integration/bclib.js').
'use strict'
const fs = require('fs')
const path = require('path')
const { spawn } = require('child_process')

const BC_BIN = process.env.BC_BIN || path.join(__dirname, '..', '..', 'bin')
const WORK = process.env.BC_WORK || process.cwd()

async function waitFor (cond, timeoutMs, what, intervalMs = 20) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await cond()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
}

class Broker {
  constructor ({ name = 'broker', args = [], dataDir } = {}) {
    this.name = name
    this.args = args
    this.dataDir = dataDir || path.join(WORK, `${name}-data`)
    this.portFile = path.join(WORK, `${name}.port`)
    this.logPath = path.join(WORK, `${name}.log`)
    this.port = 0
    this.proc = null
  }

  get bootstrap () { return `127.0.0.1:${this.port}` }

  async start (timeoutMs = 30000) {
    try { fs.unlinkSync(this.portFile) } catch (e) {}
    const log = fs.openSync(this.logPath, 'a')
    this.proc = spawn(path.join(BC_BIN, 'breadcrumb-broker'), [
      '--listen', `127.0.0.1:${this.port}`, '--port-file', this.portFile,
      '--data-dir', this.dataDir, ...this.args], { stdio: ['ignore', log, log] })
    fs.closeSync(log)
    this.exited = null
    this.proc.on('exit', (code, signal) => { this.exited = { code, signal } })
    this.port = await waitFor(() => {
      if (this.exited) throw new Error(`broker exited during startup: ${this.log().slice(-2000)}`)
      try { return parseInt(fs.readFileSync(this.portFile, 'utf8'), 10) || 0 } catch (e) { return 0 }
    }, timeoutMs, 'the broker to listen')
    return this
  }

  alive () { return this.proc && !this.exited }

  async stop (timeoutMs = 30000) {
    if (!this.alive()) return
    this.proc.kill('SIGTERM')
    await waitFor(() => this.exited, timeoutMs, 'the broker to stop')
    if (this.exited.code !== 0) throw new Error(`broker exited ${JSON.stringify(this.exited)} after SIGTERM`)
  }

  async kill () {
    if (!this.alive()) return
    this.proc.kill('SIGKILL')
    await waitFor(() => this.exited, 30000, 'the broker to die')
  }

  log () { try { return fs.readFileSync(this.logPath, 'utf8') } catch (e) { return '' } }
}

function assert (cond, msg) { if (!cond) throw new Error(`assertion failed: ${msg}`) }

// Runs an async test body; exits 1 with the error on failure, kills brokers either way.
function main (fn, brokers = []) {
  fn().then(async () => {
    for (const b of brokers) await b.kill()
    console.log('ok')
    process.exit(0)
  }, async (err) => {
    console.log('FAILED:', err && err.stack ? err.stack : err)
    for (const b of brokers) await b.kill()
    process.exit(1)
  })
}

module.exports = { Broker, waitFor, assert, main, WORK }

// Reads `count` records of topic/partition from `offset` with kafkajs's own Fetch (no
// consumer group needed). Returns kafkajs's decoded messages (offsets as strings).
async function fetchAll (kafka, topic, partition, offset, count, timeoutMs = 20000) {
  const sym = Object.getOwnPropertySymbols(kafka).find(s => s.toString() === 'Symbol(private:Kafka:createCluster)')
  const cluster = kafka[sym]({ allowAutoTopicCreation: false })
  await cluster.connect()
  await cluster.addTargetTopic(topic)
  await cluster.refreshMetadata()
  const broker = await cluster.findBroker({ nodeId: 0 })
  const out = []
  let next = BigInt(offset)
  const deadline = Date.now() + timeoutMs
  while (out.length < count) {
    if (Date.now() > deadline) throw new Error(`fetchAll: ${out.length} of ${count} after ${timeoutMs} ms`)
    const res = await broker.fetch({
      replicaId: -1, isolationLevel: 0, maxWaitTime: 200, minBytes: 1, maxBytes: 4 << 20,
      topics: [{ topic, partitions: [{ partition, fetchOffset: String(next), maxBytes: 1 << 20 }] }]
    })
    const p = res.responses[0].partitions[0]
    if (p.errorCode !== 0) throw new Error(`fetch error ${p.errorCode}`)
    for (const m of p.messages) {
      if (BigInt(m.offset) < next) continue
      out.push(m)
      next = BigInt(m.offset) + 1n
    }
  }
  await cluster.disconnect()
  return out
}

module.exports.fetchAll = fetchAll
