// breadcrumb-broker part 2: a consumer group of 3 kafkajs processes (an independent client:
// its own group protocol code and round-robin assigner) splits 6 partitions; one leaves
// (LeaveGroup on disconnect) and the others take its partitions; one is kill -9'ed and is
// evicted after its 6 s session timeout; it comes back (a new member: the group splits
// again); it is kill -9'ed and restarted within its session with the same
// group.instance.id: it gets its partitions back without a rebalance. Every record is
// consumed exactly once (each member commits synchronously after processing a record;
// membership changes happen while the group is idle). kafkajs's admin client then lists,
// describes and deletes groups (NON_EMPTY_GROUP while members are in, then NONE, then
// GROUP_ID_NOT_FOUND) and reads the committed offsets.
//
// kafkajs 2.2.4 speaks JoinGroup v5 but its consumer has no group.instance.id setting:
// members with an instance id get it through a small wrapper of the coordinator's
// joinGroup (staticMembership below), everything else is kafkajs's own code.
//
// Run as `node 0202-group-kafkajs.js consumer BOOTSTRAP GROUP TOPIC OUTFILE [INSTANCE]` it
// is one member, writing `ASSIGN p,p` on each join and `MSG partition offset value` per
// record.
'use strict'
const fs = require('fs')
const path = require('path')
const { spawn } = require('child_process')
const { Kafka, logLevel } = require('kafkajs')

const GROUP = 'g-kafkajs'
const TOPIC = 'grpjs'
const BATCH = 120

// Makes kafkajs's JoinGroup carry group.instance.id (KIP-345) for this process.
function staticMembership (instance) {
  const KBroker = require('kafkajs/src/broker')
  const apiKeys = require('kafkajs/src/protocol/requests/apiKeys')
  const { requests } = require('kafkajs/src/protocol/requests')
  const send = Object.getOwnPropertySymbols(KBroker.prototype).find(x => x.toString() === 'Symbol(private:Broker:sendRequest)')
  KBroker.prototype.joinGroup = async function ({ groupId, sessionTimeout, rebalanceTimeout, memberId = '', protocolType = 'consumer', groupProtocols }) {
    const joinGroup = this.lookupRequest(apiKeys.JoinGroup, requests.JoinGroup)
    const make = id => this[send](joinGroup({ groupId, sessionTimeout, rebalanceTimeout, memberId: id, groupInstanceId: instance, protocolType, groupProtocols }))
    try {
      return await make(memberId)
    } catch (e) {
      if (e.name === 'KafkaJSMemberIdRequired') return make(e.memberId)
      throw e
    }
  }
}

async function consumerMain (bootstrap, group, topic, outfile, instance) {
  if (instance) staticMembership(instance)
  const out = fs.openSync(outfile, 'a')
  const write = line => fs.writeSync(out, line + '\n')
  const kafka = new Kafka({ clientId: 'itest-member', brokers: [bootstrap], logLevel: logLevel.NOTHING })
  const consumer = kafka.consumer({ groupId: group, sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 10000, maxWaitTimeInMs: 500 })
  consumer.on(consumer.events.GROUP_JOIN, e => {
    write('ASSIGN ' + (e.payload.memberAssignment[topic] || []).slice().sort((a, b) => a - b).join(','))
  })
  process.on('SIGTERM', async () => {
    await consumer.disconnect()
    write('CLOSED')
    process.exit(0)
  })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  write('STARTED')
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      write(`MSG ${partition} ${message.offset} ${message.value.toString()}`)
      try {
        await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }])
      } catch (e) {
        write(`COMMITFAIL ${partition} ${message.offset} ${e.type || e.message}`)
      }
    }
  })
}

if (process.argv[2] === 'consumer') {
  consumerMain(...process.argv.slice(3, 8)).catch(e => { console.error(e); process.exit(1) })
} else {
  const { Broker, waitFor, assert, main, WORK } = require(process.env.BC_ROOT + '/tests/integration/bclib.js')

  class Member {
    constructor (name, bootstrap, instance) {
      this.name = name
      this.bootstrap = bootstrap
      this.instance = instance
      this.path = path.join(WORK, name + '.out')
      this.proc = null
      this.exited = null
    }

    start () {
      fs.appendFileSync(this.path, 'INCARNATION\n')
      const err = fs.openSync(path.join(WORK, this.name + '.err'), 'a')
      this.exited = null
      this.proc = spawn(process.execPath, [__filename, 'consumer', this.bootstrap, GROUP, TOPIC, this.path, ...(this.instance ? [this.instance] : [])], { stdio: ['ignore', err, err] })
      fs.closeSync(err)
      this.proc.on('exit', (code, signal) => { this.exited = { code, signal } })
    }

    lines () { return fs.readFileSync(this.path, 'utf8').split('\n').filter(l => l) }

    joins () { return this.lines().filter(l => l.startsWith('ASSIGN')).length }

    assignment () {
      let cur = null
      for (const l of this.lines()) {
        if (l === 'INCARNATION') cur = null
        else if (l.startsWith('ASSIGN')) cur = l.slice(7) ? l.slice(7).split(',').map(Number) : []
        else if (l === 'CLOSED') cur = null
      }
      return cur
    }

    async stop () {
      this.proc.kill('SIGTERM')
      await waitFor(() => this.exited, 30000, `${this.name} to exit`)
      assert(this.exited.code === 0, `${this.name} exited ${JSON.stringify(this.exited)}`)
    }

    async kill () {
      if (!this.proc || this.exited) return
      this.proc.kill('SIGKILL')
      await waitFor(() => this.exited, 30000, `${this.name} to die`)
    }
  }

  const broker = new Broker({ args: ['--topic', `${TOPIC}:6`] })
  const members = {}

  main(async () => {
    await broker.start()
    members.c1 = new Member('c1', broker.bootstrap, 'js-1')
    members.c2 = new Member('c2', broker.bootstrap, 'js-2')
    members.c3 = new Member('c3', broker.bootstrap, null)
    const kafka = new Kafka({ clientId: 'itest', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING })
    const producer = kafka.producer({ allowAutoTopicCreation: false })
    await producer.connect()
    const admin = kafka.admin()
    await admin.connect()
    const produced = []
    let batches = 0
    const produceBatch = async () => {
      batches++
      const messages = []
      for (let i = 0; i < BATCH; i++) {
        const value = `b${batches}-${i}`
        messages.push({ partition: i % 6, value })
        produced.push(value)
      }
      await producer.send({ topic: TOPIC, acks: -1, messages })
    }
    const consumed = () => Object.values(members).flatMap(m => m.lines().filter(l => l.startsWith('MSG ')).map(l => l.split(' ')[3]))
    const waitConsumed = what => waitFor(() => consumed().length >= produced.length, 60000, what, 50)
    const waitSplit = (live, per) => waitFor(() => {
      const a = live.map(n => members[n].assignment())
      if (a.some(x => x === null || x.length !== per)) return false
      return a.flat().sort((x, y) => x - y).join(',') === '0,1,2,3,4,5'
    }, 60000, `members ${live} to hold ${per} partitions each`, 50)

    let t0 = Date.now()
    for (const m of Object.values(members)) m.start()
    await waitSplit(['c1', 'c2', 'c3'], 2)
    console.log(`RESULT 3 kafkajs members split 6 partitions 2/2/2 in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${JSON.stringify(Object.fromEntries(Object.entries(members).map(([n, m]) => [n, m.assignment()])))}`)
    await produceBatch()
    await waitConsumed('batch 1 consumed')

    const described = (await admin.describeGroups([GROUP])).groups[0]
    assert(described.state === 'Stable' && described.members.length === 3 && described.protocolType === 'consumer',
      `describeGroups: ${JSON.stringify({ state: described.state, members: described.members.length, type: described.protocolType })}`)
    assert(described.members.every(m => m.clientId === 'itest-member' && m.clientHost === '/127.0.0.1'), 'members client id and host')
    const listed = (await admin.listGroups()).groups
    assert(listed.some(g => g.groupId === GROUP && g.protocolType === 'consumer'), `listGroups: ${JSON.stringify(listed)}`)
    const nonEmpty = await admin.deleteGroups([GROUP]).then(() => null, e => e.groups && e.groups[0].errorCode)
    assert(nonEmpty === 68, `deleteGroups of a group with members -> NON_EMPTY_GROUP (68), got ${nonEmpty}`)

    t0 = Date.now()
    await members.c3.stop()
    await waitSplit(['c1', 'c2'], 3)
    console.log(`RESULT member left (LeaveGroup): c1/c2 took its partitions in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    await produceBatch()
    await waitConsumed('batch 2 consumed')

    t0 = Date.now()
    await members.c2.kill()
    await waitSplit(['c1'], 6)
    const evicted = (Date.now() - t0) / 1000
    assert(evicted >= 4.5, `evicted after ${evicted} s, before the session timeout`)
    console.log(`RESULT static member kill -9'ed: evicted after ${evicted.toFixed(1)} s (sessionTimeout 6000), c1 holds all 6`)
    await produceBatch()
    await waitConsumed('batch 3 consumed')

    members.c2.start()
    await waitSplit(['c1', 'c2'], 3)
    await produceBatch()
    await waitConsumed('batch 4 consumed')

    // Killed and restarted within its session: same instance id, old partitions, no rebalance.
    const before = members.c2.assignment()
    const c1Joins = members.c1.joins()
    const kept = () => (broker.log().match(/static member kept its assignment without a rebalance/g) || []).length
    const generations = () => (broker.log().match(/group rebalance joined/g) || []).length
    const [keptBefore, gensBefore] = [kept(), generations()]
    t0 = Date.now()
    await members.c2.kill()
    members.c2.start()
    await waitFor(() => members.c2.assignment() !== null, 30000, 'the restarted c2 to get an assignment', 50)
    const back = (Date.now() - t0) / 1000
    assert(JSON.stringify(members.c2.assignment()) === JSON.stringify(before), `c2 got ${members.c2.assignment()} back, had ${before}`)
    assert(members.c1.joins() === c1Joins, 'c1 rejoined')
    assert(kept() === keptBefore + 1 && generations() === gensBefore, 'the broker replaced the static member without a new generation')
    console.log(`RESULT static member restarted within its session: partitions ${JSON.stringify(before)} back in ${back.toFixed(1)} s, no rebalance (c1 untouched, generation unchanged)`)
    await produceBatch()
    await waitConsumed('batch 5 consumed')

    const got = consumed()
    const fails = Object.values(members).flatMap(m => m.lines().filter(l => l.startsWith('COMMITFAIL')))
    assert(fails.length === 0, `commit failures: ${fails.slice(0, 5)}`)
    assert(got.length === produced.length, `${got.length} consumed, ${produced.length} produced`)
    assert(JSON.stringify(got.slice().sort()) === JSON.stringify(produced.slice().sort()), 'every record exactly once')
    console.log(`RESULT ${produced.length} records in ${batches} batches consumed exactly once by the group`)

    await members.c1.stop()
    await members.c2.stop()
    await waitFor(async () => (await admin.describeGroups([GROUP])).groups[0].state === 'Empty', 30000, 'the group to be empty')
    const offsets = (await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] }))[0].partitions
    const total = offsets.reduce((s, p) => s + Number(p.offset), 0)
    assert(total === produced.length, `committed offsets add up to ${total}, want ${produced.length}`)
    await admin.deleteGroups([GROUP])
    const gone = await admin.deleteGroups([GROUP]).then(() => null, e => e.groups && e.groups[0].errorCode)
    assert(gone === 69, `deleteGroups of a deleted group -> GROUP_ID_NOT_FOUND (69), got ${gone}`)
    const after = (await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] }))[0].partitions
    assert(after.every(p => p.offset === '-1'), `offsets after delete: ${JSON.stringify(after)}`)
    console.log('RESULT admin: listGroups/describeGroups show the group, deleteGroups 68 with members, 0 when empty, then 69; offsets gone')
    await producer.disconnect()
    await admin.disconnect()
    await broker.stop()
  }, [broker, { kill: async () => { for (const m of Object.values(members)) await m.kill() } }])
}
