import '../../guard.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SafetensorsFile } from '../../../shared/src/model/safetensors.ts';
import { STORIES260K } from '../../fixture-paths.ts';

test('stories260k: 48 tensors with the README shapes; lm_head equals the embedding', async (t) => {
  const f = await SafetensorsFile.open(join(STORIES260K, 'model.safetensors'));
  t.after(() => f.close());
  assert.equal(f.tensorNames().length, 48);
  assert.deepEqual(f.metadata, { format: 'pt' });
  const shapes: Record<string, number[]> = {
    'model.embed_tokens.weight': [512, 64],
    'lm_head.weight': [512, 64],
    'model.norm.weight': [64],
  };
  for (let i = 0; i < 5; i++) {
    const p = `model.layers.${i}`;
    Object.assign(shapes, {
      [`${p}.input_layernorm.weight`]: [64],
      [`${p}.self_attn.q_proj.weight`]: [64, 64],
      [`${p}.self_attn.k_proj.weight`]: [32, 64],
      [`${p}.self_attn.v_proj.weight`]: [32, 64],
      [`${p}.self_attn.o_proj.weight`]: [64, 64],
      [`${p}.post_attention_layernorm.weight`]: [64],
      [`${p}.mlp.gate_proj.weight`]: [172, 64],
      [`${p}.mlp.up_proj.weight`]: [172, 64],
      [`${p}.mlp.down_proj.weight`]: [64, 172],
    });
  }
  assert.deepEqual(new Set(f.tensorNames()), new Set(Object.keys(shapes)));
  let params = 0;
  for (const [name, shape] of Object.entries(shapes)) {
    assert.deepEqual(f.info(name).shape, shape, name);
    assert.equal(f.info(name).dtype, 'F32');
    if (name !== 'lm_head.weight') params += shape.reduce((a, b) => a * b, 1);
  }
  assert.equal(params, 260_032);
  const embed = await f.readFloat32('model.embed_tokens.weight');
  const head = await f.readFloat32('lm_head.weight');
  assert.deepEqual(head, embed);
  assert.ok(embed.some((v) => v !== 0));
  assert.ok(embed.every(Number.isFinite));
});
