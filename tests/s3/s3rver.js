// Starts @20minutes/s3rver's command line: its package ships lib/cli.js but not the bin script
// its package.json names. Copied beside node_modules by the Makefile (build/s3rver).
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const { pipeline, Readable, Transform } = require('stream');
const FilesystemStore = require('@20minutes/s3rver/lib/stores/filesystem');

// S3's PUT is atomic: a GET sees the old object or the new one, never part of either. s3rver
// writes a PUT's bytes into the object's own file, so a GET during a second PUT of the same key
// read a cut object (two recd nodes storing the same derived MP3 at once got 0 bytes). Here the
// bytes go to a temporary name beside it and are renamed over the object once all are written.
FilesystemStore.prototype.putContent = function putContent(objectPath, content) {
  const tmp = `${objectPath}.put-${crypto.randomBytes(8).toString('hex')}`;
  const md5 = crypto.createHash('md5');
  let length = 0;
  const count = new Transform({
    transform(chunk, encoding, callback) {
      md5.update(chunk, encoding);
      length += chunk.length;
      callback(null, chunk);
    },
  });
  const source = Buffer.isBuffer(content) ? Readable.from([content]) : content;
  return new Promise((resolve, reject) => {
    pipeline(source, count, fs.createWriteStream(tmp), (err) => {
      if (err) {
        fs.rm(tmp, { force: true }, () => reject(err));
        return;
      }
      fs.rename(tmp, objectPath, (e) => (e ? reject(e) : resolve([length, md5.digest('hex')])));
    });
  });
};

// S3's conditional writes: with `If-None-Match: *`, a PUT or the completion of a multipart upload
// stores the object only if its key does not exist, else answers 412 PreconditionFailed. s3rver
// ignores the header; recd sends it for `import --sid`, so that two imports of one sid cannot
// replace each other's media. A key is claimed in memory before the existence check, in the same
// turn of the event loop as the check of the claims, so that two such writes at once cannot both
// pass it; the loser's body is read to its end first, as S3 does, so that its client sees the 412.
const objectCtrl = require('@20minutes/s3rver/lib/controllers/object');
const S3Error = require('@20minutes/s3rver/lib/models/error');

const claimed = new Set();

function drain(req) {
  if (req.readableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    req.on('end', resolve);
    req.on('error', resolve);
    req.resume();
  });
}

function ifAbsent(handler) {
  return async function conditionalWrite(ctx) {
    if (ctx.headers['if-none-match'] !== '*') return handler(ctx);
    const name = `${ctx.params.bucket}/${ctx.params.key}`;
    const taken = claimed.has(name);
    if (!taken) claimed.add(name);
    try {
      if (taken || (await ctx.store.existsObject(ctx.params.bucket, ctx.params.key))) {
        await drain(ctx.req);
        throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', {
          Condition: 'If-None-Match',
        });
      }
      return await handler(ctx);
    } finally {
      if (!taken) claimed.delete(name);
    }
  };
}

objectCtrl.putObject = ifAbsent(objectCtrl.putObject);
objectCtrl.completeMultipartUpload = ifAbsent(objectCtrl.completeMultipartUpload);

require('@20minutes/s3rver/lib/cli').parseAsync(process.argv);
