// Scenario: migrate the state database the way `openclaw doctor --fix` does when a gateway
// is upgraded (2026.8.1+ refuse to start on an older schema until it has run).

export async function main({ symbols }) {
  const result = await symbols.repairOpenClawStateDatabaseSchema({ env: process.env });
  return { changes: result?.changes ?? [], warnings: result?.warnings ?? [] };
}
