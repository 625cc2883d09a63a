// The reference MCP client (the official TypeScript SDK over Streamable
// HTTP) against the gateway's /mcp, with the REST door's two headers, as
// the README shows: list the tools, create a contact, find it. It prints
// one JSON object for the Go test to check.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token, key] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}`, "X-Api-Key": key } },
});
const client = new Client({ name: "ts-reference", version: "1.0.0" });
await client.connect(transport);
const tools = await client.listTools();
const created = await client.callTool({
  name: "create_contact",
  arguments: { name: "Terry Jeffords", company: "Nine-Nine Logistics", city: "Brooklyn" },
});
const found = await client.callTool({ name: "search_contacts", arguments: { query: "Terry" } });
let refused;
try {
  await client.callTool({ name: "search_contacts", arguments: { limit: "ten" } }).then((r) => (refused = r));
} catch (e) {
  refused = { thrown: String(e) };
}
console.log(JSON.stringify({ tools: tools.tools.map((t) => t.name), created, found, refused }));
await client.close();
