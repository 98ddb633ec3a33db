// breadcrumb-broker part 3 with kafkajs (its own transaction client, independent of
// librdkafka): interleaved committed and aborted transactions over two partitions, records
// sent before each transaction ends; a read_committed fetch (kafkajs's own aborted-
// transaction filtering) sees exactly the committed records in order, read_uncommitted all;
// read_committed stops at the last stable offset while a transaction is open and goes on
// after its commit; a second producer with the same transactionalId fences the first; a
// compacted topic written by kafkajs's idempotent and transactional producers (gzip too)
// reads back as the same table after compaction (offset gaps; every answer has a record).
'use strict'
const { Kafka, logLevel, CompressionTypes } = require('kafkajs')
const Batch = require('kafkajs/src/consumer/batch')
const { Broker, assert, main, waitFor } = require(process.env.BC_ROOT + '/tests/integration/bclib.js')

const broker = new Broker({ args: ['--topic', 'jstx:2', '--topic', 'jslso:1', '--topic', 'jsfence:1', '--topic', 'jstable:1:cleanup.policy=compact,segment.bytes=1024,delete.retention.ms=0,min.cleanable.dirty.ratio=0.01', '--compact-interval-ms', '100'] })

// Fetches topic/partition from offset 0 until the offset `end` (exclusive) was passed,
// filtering as kafkajs's consumer does. Returns the visible values and the last stable
// offset of the last response.
async function readPartition (cluster, topic, partition, isolationLevel, end) {
  const broker = await cluster.findBroker({ nodeId: 0 })
  const out = []
  let next = 0n
  let lso = -1n
  const deadline = Date.now() + 20000
  while (next < end) {
    if (Date.now() > deadline) throw new Error(`read ${topic}/${partition}: at ${next} of ${end}`)
    const res = await broker.fetch({
      replicaId: -1, isolationLevel, maxWaitTime: 100, minBytes: 1, maxBytes: 1 << 20,
      topics: [{ topic, partitions: [{ partition, fetchOffset: String(next), maxBytes: 1 << 16 }] }]
    })
    const p = res.responses[0].partitions[0]
    if (p.errorCode !== 0) throw new Error(`fetch error ${p.errorCode}`)
    lso = BigInt(p.lastStableOffset)
    const batch = new Batch(topic, String(next), p)
    for (const m of batch.messages) out.push(m.value.toString())
    for (const m of p.messages) if (BigInt(m.offset) >= next) next = BigInt(m.offset) + 1n
    if (isolationLevel === 1 && next >= lso && lso < end) break
  }
  return { values: out, next, lso }
}

async function highWatermark (admin, topic, partition) {
  const offsets = await admin.fetchTopicOffsets(topic)
  return BigInt(offsets.find(o => o.partition === partition).high)
}

main(async () => {
  await broker.start()
  const kafka = new Kafka({ clientId: 'itest', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 10, initialRetryTime: 50, maxRetryTime: 500 } })
  const admin = kafka.admin()
  await admin.connect()
  const sym = Object.getOwnPropertySymbols(kafka).find(s => s.toString() === 'Symbol(private:Kafka:createCluster)')
  const cluster = kafka[sym]({ allowAutoTopicCreation: false })
  await cluster.connect()
  await cluster.addMultipleTargetTopics(['jstx', 'jslso', 'jsfence'])
  await cluster.refreshMetadata()

  // Interleaved commits and aborts.
  const producer = kafka.producer({ transactionalId: 'js-interleaved', maxInFlightRequests: 1, idempotent: true, transactionTimeout: 10000 })
  await producer.connect()
  const committed = [[], []]
  const everything = [[], []]
  for (let t = 0; t < 10; t++) {
    const tx = await producer.transaction()
    const recs = []
    for (let i = 0; i < 15; i++) recs.push({ partition: (t + i) % 2, value: `t${t}-r${i}` })
    await tx.send({ topic: 'jstx', acks: -1, messages: recs.slice(0, 8) })
    await tx.send({ topic: 'jstx', acks: -1, messages: recs.slice(8) })
    for (const r of recs) everything[r.partition].push(r.value)
    if (t % 3 === 2) {
      await tx.abort()
    } else {
      await tx.commit()
      for (const r of recs) committed[r.partition].push(r.value)
    }
  }
  await producer.disconnect()
  let nrc = 0
  let nru = 0
  for (const partition of [0, 1]) {
    const end = await highWatermark(admin, 'jstx', partition)
    const rc = await readPartition(cluster, 'jstx', partition, 1, end)
    const ru = await readPartition(cluster, 'jstx', partition, 0, end)
    assert(JSON.stringify(rc.values) === JSON.stringify(committed[partition]), `read_committed partition ${partition}: ${rc.values.length} vs ${committed[partition].length}`)
    assert(JSON.stringify(ru.values) === JSON.stringify(everything[partition]), `read_uncommitted partition ${partition}`)
    nrc += rc.values.length
    nru += ru.values.length
  }
  console.log(`RESULT kafkajs interleaved: 10 transactions (3 aborted) x 15 records: read_committed ${nrc} (exactly the committed), read_uncommitted ${nru}`)

  // The last stable offset.
  const opener = kafka.producer({ transactionalId: 'js-opener', maxInFlightRequests: 1, idempotent: true, transactionTimeout: 10000 })
  const other = kafka.producer({ transactionalId: 'js-other', maxInFlightRequests: 1, idempotent: true, transactionTimeout: 10000 })
  await opener.connect()
  await other.connect()
  let tx = await other.transaction()
  await tx.send({ topic: 'jslso', acks: -1, messages: [0, 1, 2].map(i => ({ partition: 0, value: `before-${i}` })) })
  await tx.commit()
  const open = await opener.transaction()
  await open.send({ topic: 'jslso', acks: -1, messages: [0, 1, 2].map(i => ({ partition: 0, value: `open-${i}` })) })
  tx = await other.transaction()
  await tx.send({ topic: 'jslso', acks: -1, messages: [0, 1, 2].map(i => ({ partition: 0, value: `after-${i}` })) })
  await tx.commit()
  const endOpen = await highWatermark(admin, 'jslso', 0)
  let r = await readPartition(cluster, 'jslso', 0, 1, endOpen)
  assert(r.lso === 4n, `LSO while open: ${r.lso} (3 records + a marker before it)`)
  assert(JSON.stringify(r.values) === JSON.stringify(['before-0', 'before-1', 'before-2']), `before the commit: ${r.values}`)
  assert(r.next === 4n, `read_committed stopped at the LSO: next ${r.next}`)
  await open.commit()
  let end = await highWatermark(admin, 'jslso', 0)
  r = await readPartition(cluster, 'jslso', 0, 1, end)
  assert(JSON.stringify(r.values) === JSON.stringify(['before-0', 'before-1', 'before-2', 'open-0', 'open-1', 'open-2', 'after-0', 'after-1', 'after-2']), `after the commit: ${r.values}`)
  console.log(`RESULT kafkajs lso: read_committed stopped at the LSO 4 (ListOffsets latest under read_committed: ${endOpen}), all 9 committed records in order after the commit`)
  await opener.disconnect()
  await other.disconnect()

  // Fencing by transactionalId.
  const first = kafka.producer({ transactionalId: 'js-fence', maxInFlightRequests: 1, idempotent: true, transactionTimeout: 10000, retry: { retries: 2 } })
  await first.connect()
  const ftx = await first.transaction()
  await ftx.send({ topic: 'jsfence', acks: -1, messages: [{ partition: 0, value: 'first' }] })
  const second = kafka.producer({ transactionalId: 'js-fence', maxInFlightRequests: 1, idempotent: true, transactionTimeout: 10000 })
  await second.connect()
  const stx = await second.transaction()
  await stx.send({ topic: 'jsfence', acks: -1, messages: [{ partition: 0, value: 'second' }] })
  await stx.commit()
  let fenced = null
  try {
    await ftx.commit()
  } catch (e) {
    fenced = e
  }
  assert(fenced !== null, 'the fenced producer cannot commit')
  const why = fenced.type || (fenced.originalError && fenced.originalError.type) || fenced.name
  end = await highWatermark(admin, 'jsfence', 0)
  r = await readPartition(cluster, 'jsfence', 0, 1, end)
  assert(JSON.stringify(r.values) === JSON.stringify(['second']), `fenced: ${r.values}`)
  console.log(`RESULT kafkajs fencing: the first producer's commit failed (${why}), read_committed sees only the second's record`)
  await second.disconnect()
  await first.disconnect().catch(() => {})

  // Compaction read back by kafkajs.
  await cluster.addTargetTopic('jstable')
  await cluster.refreshMetadata()
  const idem = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await idem.connect()
  const table = {}
  for (let round = 0; round < 4; round++) {
    const messages = []
    for (let k = 0; k < 12; k++) {
      const v = k % 5 === 4 && round === 3 ? null : `r${round}-k${k}`
      messages.push({ partition: 0, key: `k${k}`, value: v })
      if (v === null) delete table[`k${k}`]; else table[`k${k}`] = v
    }
    await idem.send({ topic: 'jstable', acks: -1, compression: round % 2 ? CompressionTypes.GZIP : CompressionTypes.None, messages })
  }
  const tw = kafka.producer({ transactionalId: 'js-table', maxInFlightRequests: 1, idempotent: true })
  await tw.connect()
  let ttx = await tw.transaction()
  await ttx.send({ topic: 'jstable', acks: -1, messages: [{ partition: 0, key: 'k0', value: 'committed' }] })
  await ttx.commit()
  table.k0 = 'committed'
  ttx = await tw.transaction()
  await ttx.send({ topic: 'jstable', acks: -1, messages: [{ partition: 0, key: 'k1', value: 'aborted' }] })
  await ttx.abort()
  await tw.disconnect()
  const cleanableEnd = await highWatermark(admin, 'jstable', 0)
  for (let i = 0; i < 6; i++) {
    await idem.send({ topic: 'jstable', acks: -1, messages: [{ partition: 0, key: 'filler', value: `f${i}-${'x'.repeat(300)}` }] })
  }
  table.filler = `f5-${'x'.repeat(300)}`
  await idem.disconnect()
  await waitFor(() => {
    const ups = [...broker.log().matchAll(/msg="log compacted" topic=jstable .*cleaned_upto=(\d+)/g)].map(m => BigInt(m[1]))
    return ups.some(u => u >= cleanableEnd)
  }, 20000, 'compaction of jstable')
  const tend = await highWatermark(admin, 'jstable', 0)
  const got = {}
  const tb = await cluster.findBroker({ nodeId: 0 })
  let next = 0n
  let nrec = 0
  while (next < tend) {
    const res = await tb.fetch({ replicaId: -1, isolationLevel: 1, maxWaitTime: 100, minBytes: 1, maxBytes: 1 << 20, topics: [{ topic: 'jstable', partitions: [{ partition: 0, fetchOffset: String(next), maxBytes: 1 << 16 }] }] })
    const p = res.responses[0].partitions[0]
    assert(p.errorCode === 0, `fetch error ${p.errorCode}`)
    for (const m of new Batch('jstable', String(next), p).messages) {
      nrec++
      if (m.value === null) delete got[m.key.toString()]; else got[m.key.toString()] = m.value.toString()
    }
    let moved = false
    for (const m of p.messages) if (BigInt(m.offset) >= next) { next = BigInt(m.offset) + 1n; moved = true }
    assert(moved, `a fetch at ${next} returned no record (an answer kafkajs would take for the end)`)
  }
  assert(JSON.stringify(Object.entries(got).sort()) === JSON.stringify(Object.entries(table).sort()), `table after compaction: ${JSON.stringify(got)}`)
  console.log(`RESULT kafkajs compaction: 4 rounds x 12 keys (gzip and none, tombstones), a committed and an aborted transaction -> after compaction kafkajs reads ${nrec} records and rebuilds the same ${Object.keys(table).length}-key table`)
  await cluster.disconnect()
  await admin.disconnect()
  await broker.stop()
}, [broker])
