// Offline after the first load: the app shell is cached when the worker installs, and the page hands over the list
// of everything else it loaded (LiteRT.js's wasm, the models, config.json) once its models run; later fetches go to
// the network first and to the cache when there is none. The cache name carries the served files' version
// (config.json's), so another export or app starts a fresh cache.
const params = new URL(self.location).searchParams;
const CACHE = `d3ke-edge-${params.get('v') || '1'}`;
const SHELL = ['./', 'index.html', 'app.css', 'manifest.webmanifest', 'src/app.js', 'src/blazepose.js',
               'src/kinematics.js', 'src/models.js', 'src/mot.js', 'src/sides.js', 'icons/icon-192.png',
               'icons/icon-512.png'];

self.addEventListener('install', (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (e) => {
  e.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener('message', (e) => {  // the page lists what it loaded: keep all of it for offline use
  const keep = (e.data && e.data.keep) || [];
  e.waitUntil(caches.open(CACHE).then((c) => Promise.all(keep.map((u) => c.match(u).then((hit) => hit || c.add(u))))));
});

self.addEventListener('fetch', (e) => {
  if (e.request.method !== 'GET') return;
  // network first (a newer export or app wins when the server is there), the cache when it is not
  e.respondWith(fetch(e.request).then((res) => {
    if (res.ok) {
      const copy = res.clone();
      caches.open(CACHE).then((c) => c.put(e.request, copy));
    }
    return res;
  }).catch(() => caches.match(e.request, {ignoreSearch: true}).then((hit) => hit || Response.error())));
});
