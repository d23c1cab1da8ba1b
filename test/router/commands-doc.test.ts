/** docs/commands.md's compatibility matrix is the command table's, as scripts/gen-commands-doc.ts writes it. */
import { describe, expect, it } from 'vitest';
import { commandMatrix, generatedDoc, readDoc } from '../../scripts/gen-commands-doc.js';

describe('docs/commands.md', () => {
  it('docs/commands.md - the compatibility matrix matches the command table (run scripts/gen-commands-doc.ts)', async () => {
    expect(readDoc()).toBe(await generatedDoc());
    const matrix = commandMatrix();
    expect(matrix).toContain("| LPUSH | to the key's node | yes | yes |");
    expect(matrix).toContain('| SUNION | one node: forwarded; several: computed in the router | yes | no |');
    expect(matrix).toMatch(
      /\| RENAME \| keys on one shard: forwarded; across shards: refused \(HS_ERR_CROSS_SHARD\) \| yes \| no \|/,
    );
    // the embedded column is the embedded node's own command table
    expect(matrix).toContain("| XADD | to the key's node | yes | not listed |");
    expect(matrix).toContain("| GEOADD | to the key's node | yes | not listed |");
    expect(matrix).toContain("| SETBIT | to the key's node | yes | yes |");
    expect(matrix).toMatch(/\| CONFIG \| refused: it names no key/);
  });
});
