/* A tile worker (a module worker started by tiles.js): fetches, decodes and draws the page's
 * vector tiles off its main thread (tilework.js). Each message is a job with an id; the answer
 * is {id, result} or {id, error}, an ImageBitmap transferred, not copied. pbf (a classic
 * script) defines self.Pbf when imported. */
import "/vendor/pbf/dist/pbf.js";
import { handle, rehearseInThisWorker } from "./tilework.js";

rehearseInThisWorker();

self.addEventListener("message", function (event) {
  const msg = event.data;
  handle(msg).then(function (done) {
    self.postMessage({ id: msg.id, result: done.result }, done.transfer || []);
  }, function (err) {
    self.postMessage({ id: msg.id, error: String(err && err.message || err) });
  });
});
