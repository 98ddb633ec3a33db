// breadcrumb-broker part 3 with kafkajs: exactly-once consume-transform-produce through
// kafkajs's own consumer group (read_committed), transactional producer and sendOffsets
// (AddOffsetsToTxn + TxnOffsetCommit). A copier process is killed with kill -9 while a
// transaction is open (records sent, offsets not yet committed), at a point chosen by records
// processed; a second copier with the same transactionalId aborts it and finishes: every
// input record is on the output exactly once, in input order per partition.
'use strict'
const fs = require('fs')
const path = require('path')
const { spawn } = require('child_process')
const { Kafka, logLevel } = require('kafkajs')
const Batch = require('kafkajs/src/consumer/batch')
const { Broker, assert, main, waitFor, WORK } = require(process.env.BC_ROOT + '/tests/integration/bclib.js')

const N = 1200
const PARTS = 2

// --- the copier role: node this-file copier BOOTSTRAP NAME HOLD_AFTER -----------------------
async function copier (bootstrap, name, holdAfter) {
  const progress = path.join(WORK, `${name}.progress`)
  const kafka = new Kafka({ clientId: name, brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 } })
  const producer = kafka.producer({ transactionalId: 'js-copier', maxInFlightRequests: 1, idempotent: true, transactionTimeout: 10000 })
  const consumer = kafka.consumer({ groupId: 'js-copy', readUncommitted: false, sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 8000, maxWaitTimeInMs: 100 })
  await producer.connect()
  await consumer.connect()
  await consumer.subscribe({ topic: 'jsin', fromBeginning: true })
  let processed = 0
  fs.writeFileSync(progress, 'running 0')
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset }) => {
      const msgs = batch.messages.slice(0, 100)
      if (msgs.length === 0) return
      const tx = await producer.transaction()
      await tx.send({ topic: 'jsout', acks: -1, messages: msgs.map(m => ({ key: m.key, value: m.value.toString().toUpperCase(), partition: batch.partition })) })
      processed += msgs.length
      if (holdAfter > 0 && processed >= holdAfter) {
        fs.writeFileSync(progress, `holding ${processed}`)
        await new Promise(() => {}) // wait for kill -9 with the transaction open
      }
      const next = (BigInt(msgs[msgs.length - 1].offset) + 1n).toString()
      await tx.sendOffsets({ consumerGroupId: 'js-copy', topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }] })
      await tx.commit()
      resolveOffset(msgs[msgs.length - 1].offset)
      fs.writeFileSync(progress, `running ${processed}`)
    }
  })
}

if (process.argv[2] === 'copier') {
  copier(process.argv[3], process.argv[4], parseInt(process.argv[5], 10)).catch(e => {
    console.log('copier failed:', e)
    process.exit(1)
  })
} else {
  const broker = new Broker({ args: ['--topic', `jsin:${PARTS}`, '--topic', `jsout:${PARTS}`] })

  const spawnCopier = (name, holdAfter) => {
    const log = fs.openSync(path.join(WORK, `${name}.log`), 'a')
    const proc = spawn(process.execPath, [__filename, 'copier', broker.bootstrap, name, String(holdAfter)], { stdio: ['ignore', log, log] })
    fs.closeSync(log)
    proc.exited = null
    proc.on('exit', (code, signal) => { proc.exited = { code, signal } })
    return proc
  }
  const state = name => { try { return fs.readFileSync(path.join(WORK, `${name}.progress`), 'utf8') } catch (e) { return '' } }

  // Every read_committed value of the output, per partition, once N are there.
  async function committedOutput (kafka) {
    const sym = Object.getOwnPropertySymbols(kafka).find(s => s.toString() === 'Symbol(private:Kafka:createCluster)')
    const cluster = kafka[sym]({ allowAutoTopicCreation: false })
    await cluster.connect()
    await cluster.addTargetTopic('jsout')
    await cluster.refreshMetadata()
    const b = await cluster.findBroker({ nodeId: 0 })
    const out = []
    for (let partition = 0; partition < PARTS; partition++) {
      const want = N / PARTS
      const values = []
      let next = 0n
      const deadline = Date.now() + 60000
      for (;;) {
        const res = await b.fetch({ replicaId: -1, isolationLevel: 1, maxWaitTime: 100, minBytes: 1, maxBytes: 1 << 20, topics: [{ topic: 'jsout', partitions: [{ partition, fetchOffset: String(next), maxBytes: 1 << 20 }] }] })
        const p = res.responses[0].partitions[0]
        for (const m of new Batch('jsout', String(next), p).messages) values.push(m.value.toString())
        for (const m of p.messages) if (BigInt(m.offset) >= next) next = BigInt(m.offset) + 1n
        if (values.length >= want && next >= BigInt(p.lastStableOffset)) break
        if (Date.now() > deadline) throw new Error(`partition ${partition}: ${values.length} of ${want} committed records`)
      }
      out.push(values)
    }
    await cluster.disconnect()
    return out
  }

  main(async () => {
    await broker.start()
    const kafka = new Kafka({ clientId: 'itest', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING })
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    for (let i = 0; i < N; i += 100) {
      const messages = []
      for (let j = i; j < i + 100; j++) messages.push({ partition: j % PARTS, key: `k${j % 17}`, value: `v${String(j).padStart(5, '0')}` })
      await producer.send({ topic: 'jsin', acks: -1, messages })
    }
    await producer.disconnect()

    const c1 = spawnCopier('copier-1', 500)
    await waitFor(() => {
      if (c1.exited) throw new Error(`copier 1 exited: ${fs.readFileSync(path.join(WORK, 'copier-1.log'), 'utf8')}`)
      return state('copier-1').startsWith('holding')
    }, 60000, 'copier 1 to hold with a transaction open')
    const held = parseInt(state('copier-1').split(' ')[1], 10)
    c1.kill('SIGKILL')
    await waitFor(() => c1.exited, 10000, 'copier 1 to die')
    const c2 = spawnCopier('copier-2', 0)
    const out = await committedOutput(kafka)
    for (let partition = 0; partition < PARTS; partition++) {
      const want = []
      for (let j = partition; j < N; j += PARTS) want.push(`V${String(j).padStart(5, '0')}`)
      const got = out[partition]
      const dups = got.length - new Set(got).size
      assert(JSON.stringify(got) === JSON.stringify(want), `partition ${partition}: ${got.length} records (${dups} duplicates), want ${want.length} in order`)
    }
    c2.kill('SIGTERM')
    console.log(`RESULT kafkajs copy: copier killed -9 after ${held} records with a transaction open; the second finished: ${N} records on the output, each exactly once, in order`)
    await broker.stop()
  }, [broker])
}
