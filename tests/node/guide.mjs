// The example of the guide "Use the native HTTP and WebSocket API", section 5, as written
// there (only line breaks restored), plus the two handlers at the end, which the guide
// leaves out. .ci/node-guide.sh runs it against a real server.
import WebSocket from "ws";

const socket = new WebSocket("ws://localhost:8080/ws?tenant_id=demo", ["nimbus.v2"], {
  headers: { Authorization: `Bearer ${process.env.NIMBUS_TOKEN}` },
});

socket.on("message", (raw) => {
  const frame = JSON.parse(raw.toString());

  switch (frame.type) {
    case "hello":
      // Complete the handshake, then subscribe.
      socket.send(JSON.stringify({ type: "client_hello", protocol: "nimbus.v2" }));
      socket.send(
        JSON.stringify({
          type: "subscribe",
          request_id: "messages-1",
          query: { table: "messages", filters: [] },
        }),
      );
      break;
    case "subscription_result":
      // frame.data is the full current result set for the query.
      console.log(`subscription ${frame.subscription_id}:`, frame.data);
      break;
    case "op.error":
    case "error":
    case "fatal_error":
      console.error(frame.error.code, frame.error.message);
      break;
  }
});

// Not in the guide: without these, a refused upgrade (a missing tenant, a wrong token) is
// an unhandled 'error' event, and Node exits with a stack trace instead of the reason.
socket.on("unexpected-response", (_req, res) => {
  let body = "";
  res.on("data", (chunk) => (body += chunk));
  res.on("end", () => {
    console.error(`upgrade refused: HTTP ${res.statusCode} ${body}`);
    process.exitCode = 1;
  });
});
socket.on("error", (err) => {
  console.error(`connection failed: ${err.message}`);
  process.exitCode = 1;
});
