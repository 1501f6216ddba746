// A Worker for pages opened from disk. Browsers refuse `new Worker(url)` on file:// pages, and Material's search
// runs in a worker, so without this search never starts on a site opened from disk. Material's offline plugin
// would add a shim from unpkg.com for this; the site loads nothing from the network, so it carries its own (the
// file name contains "iframe-worker", which tells the plugin one is present).
//
// How: the worker's script runs in a hidden same-origin iframe whose `postMessage` is rebound to deliver to the
// page, and the page's `worker.postMessage` dispatches a message event inside the iframe. Only on file://.
(function () {
  "use strict";
  if (location.protocol !== "file:") {
    return;
  }

  class FileWorker extends EventTarget {
    constructor(url) {
      super();
      this.onmessage = null;
      this._queue = [];
      this._frame = document.createElement("iframe");
      this._frame.hidden = true;
      this._frame.setAttribute("aria-hidden", "true");
      document.body.appendChild(this._frame);
      const scope = this._frame.contentWindow;
      scope.postMessage = (data) => {
        const event = new MessageEvent("message", { data: data });
        this.dispatchEvent(event);
        if (typeof this.onmessage === "function") {
          this.onmessage(event);
        }
      };
      scope.importScripts = () => {
        throw new Error("importScripts is not available to a worker on a page opened from disk");
      };
      const script = scope.document.createElement("script");
      script.src = new URL(url, location.href).href;
      script.onload = () => {
        const queued = this._queue;
        this._queue = null;
        queued.forEach((data) => this.postMessage(data));
      };
      scope.document.head.appendChild(script);
    }

    postMessage(data) {
      if (this._queue !== null) {
        this._queue.push(data);
        return;
      }
      this._frame.contentWindow.dispatchEvent(new MessageEvent("message", { data: data }));
    }

    terminate() {
      this._frame.remove();
    }
  }

  // The page's scripts run after the body exists; a worker created earlier waits for it.
  window.Worker = function (url) {
    if (document.body) {
      return new FileWorker(url);
    }
    throw new Error("a worker on a page opened from disk can only start once the page has a body");
  };
})();
