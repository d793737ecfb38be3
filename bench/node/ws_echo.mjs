// ws_echo.mjs: the Node peer for `make bench`: a `ws` echo server on
// 127.0.0.1:PORT, what users would pick instead of streamerd. Every
// message goes back as it came (text stays text). No auth, no parsing.
//
//   node ws_echo.mjs PORT
import { WebSocketServer } from "ws";

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error("usage: node ws_echo.mjs PORT");
  process.exit(2);
}

const wss = new WebSocketServer({ host: "127.0.0.1", port, perMessageDeflate: false });
wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on("error", () => {});
});
wss.on("listening", () => console.log(`ws_echo: listening on 127.0.0.1:${port}`));
wss.on("error", (err) => {
  console.error(`ws_echo: ${err.message}`);
  process.exit(1);
});
const stop = () => {
  for (const ws of wss.clients) ws.terminate();
  wss.close(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
