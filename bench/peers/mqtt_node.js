// bench/peers/mqtt_node.js MODE - the same measurements as
// bench/netmcu/mqtt.lua with the npm `mqtt` package (MQTT.js) on Node.js,
// printed as "<count> <seconds>".  Environment: MQTT_PORT, N, TOPIC,
// CLIENT_ID, MQTT_JS (the package's directory).
const mqtt = require(process.env.MQTT_JS);
const mode = process.argv[2];
const n = Number(process.env.N), topic = process.env.TOPIC;
const payload = Buffer.alloc(100, 'p');
const persistent = mode === 'recv' || mode === 'prep';
const c = mqtt.connect({ host: '127.0.0.1', port: Number(process.env.MQTT_PORT),
  clientId: process.env.CLIENT_ID || 'node-bench', clean: !persistent, keepalive: 60,
  protocolVersion: 4, reconnectPeriod: 0 });
let t0;
function finish(count) {
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${count} ${s.toFixed(6)}`);
  c.end();
}
c.on('error', (e) => { console.error('connect failed:', e.message); process.exit(1); });
if (mode === 'recv') {
  let got = 0;
  t0 = process.hrtime.bigint();
  c.on('message', () => { if (++got === n) finish(n); });
}
c.on('connect', () => {
  if (mode === 'pub') {
    // MQTT.js writes in order: the last message's callback comes once every
    // one is written (a callback on each makes it far slower)
    t0 = process.hrtime.bigint();
    for (let i = 1; i < n; i++) c.publish(topic, payload, { qos: 0 });
    c.publish(topic, payload, { qos: 0 }, () => finish(n));
  } else if (mode === 'rtt') {
    let i = 0;
    const next = () => c.publish(topic, payload, { qos: 1 }, () => { if (++i < n) next(); else finish(n); });
    t0 = process.hrtime.bigint();
    next();
  } else if (mode === 'prep') {
    c.subscribe(topic, { qos: 0 }, () => c.end());
  }
});
