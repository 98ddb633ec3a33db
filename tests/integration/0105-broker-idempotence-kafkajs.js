// breadcrumb-broker part 1: kafkajs's idempotent producer (its own sequence handling,
// independent of librdkafka) against a broker that drops the connection after every 5th
// append (--fault-drop-after-append, test only): every record lands exactly once, in order.
'use strict'
const { Kafka, logLevel } = require('kafkajs')
const { Broker, assert, main, fetchAll } = require(process.env.BC_ROOT + '/tests/integration/bclib.js')

const broker = new Broker({ args: ['--topic', 'jsidem:1', '--fault-drop-after-append', '5', '--log-level', 'debug'] })

main(async () => {
  await broker.start()
  const kafka = new Kafka({ clientId: 'itest', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 20, initialRetryTime: 20, maxRetryTime: 200 } })
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
  await producer.connect()
  const n = 60
  for (let i = 0; i < n; i++) {
    const messages = []
    for (let j = 0; j < 10; j++) messages.push({ partition: 0, value: String(i * 10 + j).padStart(6, '0') })
    await producer.send({ topic: 'jsidem', acks: -1, messages })
  }
  await producer.disconnect()
  const got = await fetchAll(kafka, 'jsidem', 0, 0, n * 10)
  const values = got.map(m => m.value.toString())
  for (let i = 0; i < n * 10; i++) assert(values[i] === String(i).padStart(6, '0'), `record ${i} is ${values[i]}`)
  const offsets = await kafka.admin().fetchTopicOffsets('jsidem').catch(() => null)
  if (offsets) assert(offsets[0].high === String(n * 10), `high watermark ${offsets[0].high}, want ${n * 10} (no duplicates)`)
  const log = broker.log()
  const drops = (log.match(/test fault: dropping/g) || []).length
  const dups = (log.match(/duplicate batch answered/g) || []).length
  assert(drops >= 5, `fault fired ${drops} times`)
  assert(dups >= 1, `duplicates seen by the broker: ${dups}`)
  console.log(`RESULT kafkajs idempotent producer: ${n * 10} records, ${drops} dropped connections, ${dups} duplicate batches answered, none appended twice`)
  await broker.stop()
}, [broker])
