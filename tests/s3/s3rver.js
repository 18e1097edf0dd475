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

require('@20minutes/s3rver/lib/cli').parseAsync(process.argv);
