// SPDX-License-Identifier: Apache-2.0
// Validates rendered Kubernetes manifests (multi-document YAML on stdin) against the API
// schemas shipped in the npm package kubernetes-models (ajv), no cluster needed. Run by
// tests/deploy/test_deploy.py with NODE_PATH pointing at a node_modules holding
// kubernetes-models and js-yaml. Prints one line per object; exits 1 on the first invalid.
'use strict';
const fs = require('fs');
const yaml = require('js-yaml');

const docs = yaml.loadAll(fs.readFileSync(0, 'utf8')).filter((d) => d);
let bad = 0;
for (const doc of docs) {
  const [group, version] = doc.apiVersion.includes('/') ? doc.apiVersion.split('/')
                                                        : [null, doc.apiVersion];
  const mod = group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`;
  const name = `${doc.kind}/${doc.metadata && doc.metadata.name}`;
  let Model;
  try {
    Model = require(mod)[doc.kind];
  } catch (e) {
    Model = undefined;
  }
  if (!Model) {
    console.log(`INVALID ${name}: no schema for ${doc.apiVersion} ${doc.kind}`);
    bad++;
    continue;
  }
  try {
    new Model(doc).validate();
    console.log(`ok ${name}`);
  } catch (e) {
    console.log(`INVALID ${name}: ${e.message}`);
    bad++;
  }
}
console.log(`${docs.length} objects, ${bad} invalid`);
process.exit(bad ? 1 : 0);
