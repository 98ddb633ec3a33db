// breadcrumb-broker part 1 with kafkajs (pure JavaScript, independent of librdkafka): admin
// create/describe/delete, produce with keys, headers (null values included) and timestamps,
// uncompressed and gzip, fetch them back exactly, ListOffsets earliest/latest/by time.
'use strict'
const { Kafka, logLevel, CompressionTypes } = require('kafkajs')
const { Broker, assert, main, fetchAll } = require(process.env.BC_ROOT + '/tests/integration/bclib.js')

const broker = new Broker()

main(async () => {
  await broker.start()
  const kafka = new Kafka({ clientId: 'itest', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 3 } })
  const admin = kafka.admin()
  await admin.connect()
  assert(await admin.createTopics({ topics: [{ topic: 'js', numPartitions: 2, configEntries: [{ name: 'retention.bytes', value: '10000000' }] }] }), 'created')
  assert(!(await admin.createTopics({ topics: [{ topic: 'js', numPartitions: 2 }] })), 'second create returns false')
  const topics = await admin.listTopics()
  assert(topics.includes('js'), 'listTopics has js')
  const cfg = await admin.describeConfigs({ resources: [{ type: 2, name: 'js' }], includeSynonyms: false })
  const entries = Object.fromEntries(cfg.resources[0].configEntries.map(e => [e.configName, e]))
  assert(entries['retention.bytes'].configValue === '10000000', 'retention.bytes described')
  assert(entries['retention.bytes'].isDefault === false, 'retention.bytes not default')

  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  const base = Date.now() - 3600 * 1000
  const sent = []
  for (const [n, compression] of [[0, CompressionTypes.None], [1, CompressionTypes.GZIP]]) {
    for (let batch = 0; batch < 10; batch++) {
      const messages = []
      for (let i = 0; i < 50; i++) {
        const seq = n * 500 + batch * 50 + i
        const m = {
          partition: seq % 2,
          key: seq % 5 === 0 ? null : `key-${seq % 13}`,
          value: seq % 17 === 0 ? null : `value-${seq}-`.repeat(1 + seq % 4),
          headers: seq % 3 === 0 ? { a: `h${seq}`, b: Buffer.from([0, 1, 2]) } : {},
          timestamp: String(base + seq)
        }
        messages.push(m)
        sent.push(m)
      }
      const res = await producer.send({ topic: 'js', acks: -1, compression, messages })
      assert(res.every(r => r.errorCode === 0), 'produce ok')
    }
  }
  for (const partition of [0, 1]) {
    const want = sent.filter(m => m.partition === partition)
    const got = await fetchAll(kafka, 'js', partition, 0, want.length)
    assert(got.length === want.length, `partition ${partition}: ${got.length} of ${want.length}`)
    got.forEach((m, i) => {
      const w = want[i]
      assert(m.offset === String(i), `offset ${m.offset} at ${i}`)
      assert((m.key === null ? null : m.key.toString()) === w.key, `key at ${i}`)
      assert((m.value === null ? null : m.value.toString()) === w.value, `value at ${i}`)
      assert(m.timestamp === w.timestamp, `timestamp at ${i}: ${m.timestamp} vs ${w.timestamp}`)
      const hk = Object.keys(m.headers).sort().join(',')
      assert(hk === Object.keys(w.headers).sort().join(','), `header keys at ${i}`)
      for (const k of Object.keys(w.headers)) assert(Buffer.compare(m.headers[k], Buffer.from(w.headers[k])) === 0, `header ${k} at ${i}`)
    })
  }
  console.log(`RESULT kafkajs: ${sent.length} records (none+gzip) with keys/headers/timestamps exact`)

  const offsets = await admin.fetchTopicOffsets('js')
  for (const o of offsets) assert(o.low === '0' && o.high === '500', `watermarks ${JSON.stringify(o)}`)
  // Record seq has timestamp base+seq and lives in partition seq%2 at offset floor(seq/2)
  // (uncompressed half: seq < 500 is exact).
  const byTime = await admin.fetchTopicOffsetsByTimestamp('js', base + 201)
  const p0 = byTime.find(o => o.partition === 0)
  const p1 = byTime.find(o => o.partition === 1)
  assert(p0.offset === '101' && p1.offset === '100', `by time ${JSON.stringify(byTime)}`)

  await admin.deleteTopics({ topics: ['js'] })
  assert(!(await admin.listTopics()).includes('js'), 'deleted')
  await producer.disconnect()
  await admin.disconnect()
  await broker.stop()
}, [broker])
