"""The script of the report's 3D view (see :mod:`twin.report.viewer`), kept here as a string
so that it travels with the package.

It unpacks three.js (three.core, three.module and OrbitControls, each gzip in base64 in a
``<script type="application/octet-stream">``) into blob URLs and imports them, unpacks the
mesh the same way, and draws it with one colour per face. ``window.twinViewer`` exposes what
a test needs: ``ready``, ``error``, ``colourBy(mode)``, ``screenOf([x, y, z])`` (a world
point's position in the window, CSS pixels) and ``picked`` (the last click's part).
"""

VIEWER_JS = r"""
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const status = $("twin-viewer-status"), info = $("twin-viewer-info"), legend = $("twin-viewer-legend");
  const select = $("twin-viewer-colour"), canvas = $("twin-viewer-canvas");
  const api = (window.twinViewer = { ready: false, error: null, picked: null, mode: null });

  function say(text, kind) {
    status.textContent = text;
    status.className = "viewer-status" + (kind ? " " + kind : "");
  }
  function bytes(id) {
    const bin = atob($(id).textContent.replace(/\s+/g, ""));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  async function gunzip(data) {
    const stream = new Blob([data]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }
  async function source(id) { return new TextDecoder().decode(await gunzip(bytes(id))); }
  function moduleUrl(text) { return URL.createObjectURL(new Blob([text], { type: "text/javascript" })); }
  async function loadThree() {  // three.core <- three.module <- OrbitControls, linked through blob URLs
    const core = moduleUrl(await source("twin-three-core"));
    const main = moduleUrl((await source("twin-three-module")).split('"twin:three-core"').join(JSON.stringify(core)));
    const orbit = moduleUrl((await source("twin-three-orbit")).split('"twin:three"').join(JSON.stringify(main)));
    const THREE = await import(main);
    const { OrbitControls } = await import(orbit);
    return { THREE, OrbitControls };
  }
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  const mm = (m, signed) => (m === null || m === undefined || !isFinite(m)) ? "–"
    : (signed && m > 0 ? "+" : "") + (1000 * m).toFixed(1) + " mm";
  const pct = (s) => (s === null || s === undefined || !isFinite(s)) ? "–" : (100 * s).toFixed(1) + " %";

  async function main() {
    if (typeof DecompressionStream === "undefined") {
      throw new Error("this browser cannot unpack the model (no DecompressionStream); open the report in a "
                      + "current Firefox, Chrome, Edge or Safari");
    }
    const meta = JSON.parse($("twin-viewer-data").textContent);
    const { THREE, OrbitControls } = await loadThree();
    const buffer = (await gunzip(bytes("twin-viewer-mesh"))).buffer;
    const TYPES = { u8: Uint8Array, u16: Uint16Array, i16: Int16Array, u32: Uint32Array };
    const arr = (name) => {
      const a = meta.arrays[name];
      return a ? new TYPES[a.type](buffer, a.offset, a.count) : null;
    };
    const q = arr("position"), index = arr("index"), fr = meta.frame;
    const nf = index.length / 3;
    const position = new Float32Array(nf * 9);  // one vertex per corner: a colour per face
    for (let i = 0; i < nf * 3; i++) {
      const v = index[i] * 3;
      for (let c = 0; c < 3; c++) position[3 * i + c] = fr.min[c] + q[v + c] * fr.step[c];
    }
    const geometry = new THREE.BufferGeometry();
    geometry.setAttribute("position", new THREE.BufferAttribute(position, 3));
    geometry.computeVertexNormals();
    const colour = new Float32Array(nf * 9);
    geometry.setAttribute("color", new THREE.BufferAttribute(colour, 3));
    geometry.computeBoundingSphere();
    const sphere = geometry.boundingSphere;
    const surface = new THREE.MeshLambertMaterial({ vertexColors: true, side: THREE.DoubleSide });
    const mesh = new THREE.Mesh(geometry, surface);
    const scene = new THREE.Scene();
    scene.background = new THREE.Color(0xf3f4f6);
    scene.add(mesh);
    scene.add(new THREE.HemisphereLight(0xffffff, 0x7a7468, 1.9));
    const camera = new THREE.PerspectiveCamera(40, 1, sphere.radius / 100, sphere.radius * 100);
    camera.up.set(0, 0, 1);  // z is up in the survey's frame
    const sun = new THREE.DirectionalLight(0xffffff, 1.3);
    sun.position.set(0.4, 0.6, 1.0);  // above and beside the eye, wherever it turns
    camera.add(sun);
    scene.add(camera);
    const marker = new THREE.Mesh(new THREE.SphereGeometry(sphere.radius / 120, 16, 12),
                                  new THREE.MeshBasicMaterial({ color: 0xd6249f }));
    marker.visible = false;
    scene.add(marker);

    const renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
    renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    const controls = new OrbitControls(camera, canvas);
    let queued = false;
    function render() {
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => { queued = false; renderer.render(scene, camera); });
    }
    function renderNow() { renderer.render(scene, camera); }
    controls.addEventListener("change", render);
    function home() {  // from the south-south-west and above, the whole model in view
      const vfov = THREE.MathUtils.degToRad(camera.fov);
      const hfov = 2 * Math.atan(Math.tan(vfov / 2) * camera.aspect);
      const d = sphere.radius / Math.sin(Math.min(vfov, hfov) / 2) * 0.85;  // a box fills less than its sphere
      const dir = new THREE.Vector3(-0.35, -0.85, 0.55).normalize();
      camera.position.copy(sphere.center).addScaledVector(dir, d);
      camera.near = d / 200;
      camera.far = d * 20;
      controls.target.copy(sphere.center);
      camera.updateProjectionMatrix();
      controls.update();
      render();
    }
    function resize() {
      const w = canvas.clientWidth, h = canvas.clientHeight;
      if (!w || !h) return;
      renderer.setSize(w, h, false);
      camera.aspect = w / h;
      camera.updateProjectionMatrix();
      renderNow();
    }

    const linear = (rgb) => {  // palette colours are sRGB; three.js works in linear light
      const c = new THREE.Color();
      c.setRGB(rgb[0] / 255, rgb[1] / 255, rgb[2] / 255, THREE.SRGBColorSpace);
      return [c.r, c.g, c.b];
    };
    const css = (rgb) => `rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`;
    const C = meta.colours;
    const palettes = { element: C.element.map(linear), phase: C.phase.map(linear), material: C.material.map(linear) };
    const NONE = linear(C.none), MUTED = linear(C.muted);
    const ids = { element: arr("element"), phase: arr("phase"), material: arr("material") };
    const change = arr("change"), significant = arr("significant");
    const D = C.diverging;
    function divergingRgb(t) {
      t = Math.max(-1, Math.min(1, t));
      const x = (t + 1) / 2 * (D.length - 1), i = Math.min(Math.floor(x), D.length - 2), f = x - i;
      return [0, 1, 2].map((k) => D[i][k] * (1 - f) + D[i + 1][k] * f);
    }
    const NONE_ID = 65535, NO_CHANGE = -32768;
    function faceColour(mode, f) {
      if (mode === "change") {
        if (!change || change[f] === NO_CHANGE || !significant[f]) return MUTED;
        return linear(divergingRgb(change[f] * meta.change.unit / meta.change.limit));
      }
      const i = ids[mode][f];
      return i === NONE_ID ? NONE : palettes[mode][i % palettes[mode].length];
    }
    const NAMES = {
      element: (i) => `${meta.elements[i].name} (${meta.elements[i].id})`,
      phase: (i) => `${meta.phases[i].id} (${meta.phases[i].date})`,
      material: (i) => meta.materials[i].label,
    };
    const NONE_NAMES = { element: "no element", phase: "no phase", material: "no material" };
    function drawLegend(mode) {
      legend.replaceChildren();
      if (mode === "change") {
        const lim = 1000 * meta.change.limit;
        const bar = el("div", null, "scale");
        bar.style.background = `linear-gradient(to right, ${D.map(css).join(", ")})`;
        const labels = el("div", null, "scale-labels");
        for (const t of [`−${lim.toPrecision(3)} mm`, "0", `+${lim.toPrecision(3)} mm`]) labels.append(el("span", t));
        const box = el("div", null, "scale-box");
        box.append(el("div", `M3C2 distance ${meta.change.from} → ${meta.change.to}, significant changes only`),
                   bar, labels);
        legend.append(box, chip(C.muted, "not significant, or no core point near the face"));
        return;
      }
      const counts = new Map();
      for (const i of ids[mode]) counts.set(i, (counts.get(i) || 0) + 1);
      const present = [...counts.keys()].sort((a, b) => a - b);
      for (const i of present) {
        const rgb = i === NONE_ID ? C.none : C[mode][i % C[mode].length];
        legend.append(chip(rgb, i === NONE_ID ? NONE_NAMES[mode] : NAMES[mode](i)));
      }
    }
    function chip(rgb, text) {
      const c = el("span", null, "chip");
      const s = el("i");
      s.style.background = css(rgb);
      c.append(s, document.createTextNode(text));
      return c;
    }
    function colourBy(mode) {
      if (!(mode in ids) && !(mode === "change" && change)) throw new Error(`no colouring ${mode}`);
      for (let f = 0; f < nf; f++) {
        const c = faceColour(mode, f);
        for (let k = 0; k < 3; k++) colour.set(c, 9 * f + 3 * k);
      }
      geometry.attributes.color.needsUpdate = true;
      api.mode = mode;
      if (select.value !== mode) select.value = mode;
      drawLegend(mode);
      renderNow();
    }

    const raycaster = new THREE.Raycaster();
    const ndc = new THREE.Vector2();
    function hitAt(clientX, clientY) {
      const r = canvas.getBoundingClientRect();
      ndc.set((clientX - r.left) / r.width * 2 - 1, -((clientY - r.top) / r.height) * 2 + 1);
      raycaster.setFromCamera(ndc, camera);
      return raycaster.intersectObject(mesh, false)[0] || null;
    }
    function row(dl, term, value) {
      if (value === null || value === undefined || value === "") return;
      dl.append(el("dt", term), el("dd", value));
    }
    function show(hit) {
      info.replaceChildren();
      if (!hit) {
        marker.visible = false;
        api.picked = null;
        info.append(el("p", "Nothing there: click on the model.", "sub"));
        render();
        return;
      }
      const f = hit.faceIndex;
      const e = ids.element[f], p = ids.phase[f], m = ids.material[f];
      const element = e === NONE_ID ? null : meta.elements[e];
      const world = [0, 1, 2].map((k) => hit.point.getComponent(k) + fr.centre[k]);
      marker.position.copy(hit.point);
      marker.visible = true;
      info.append(el("h4", element ? element.name : "no element"));
      const dl = el("dl");
      if (element) {
        row(dl, "element", element.id);
        row(dl, "class", element.class);
        row(dl, "knowledge", element.knowledge);
        row(dl, "part of", element.groups.join(", "));
      }
      const phase = p === NONE_ID ? null : meta.phases[p];
      row(dl, "phase", phase ? `${phase.id}: ${phase.type}, ${phase.date}` + (phase.name ? ` (${phase.name})` : "")
        : "none");
      if (element && element.phases.length > 1) row(dl, "all its phases", element.phases.join(", "));
      const material = m === NONE_ID ? null : meta.materials[m];
      row(dl, "material", material ? material.label : "none");
      if (element && element.materials.length > 1) row(dl, "all its materials", element.materials.join(", "));
      let here = null;
      if (meta.change) {
        const c = change[f];
        here = c === NO_CHANGE ? null : c * meta.change.unit;
        const verdict = significant[f] ? "significant" : "not significant";
        row(dl, `change ${meta.change.from} → ${meta.change.to} here`,
            here === null ? "no core point near this face" : `${mm(here, true)}, ${verdict}`);
        const s = element && element.change;
        if (s) {
          row(dl, "the element's core points", `${s.core_points} (${s.significant ?? "–"} significant, `
              + `${pct(s.significant_share)})`);
          row(dl, "the element's change", `median ${mm(s.median_distance, true)}, peak ${mm(s.max_change, true)}, `
              + `changed ${pct(s.changed_share)}, mean LoD ${mm(s.mean_lod)}`);
        }
      }
      row(dl, "point (x, y, z)", world.map((v) => v.toFixed(3)).join(", "));
      info.append(dl);
      api.picked = { face: f, element: element ? element.id : null, name: element ? element.name : null,
                     phase: phase ? phase.id : null, material: material ? material.id : null, change: here,
                     significant: meta.change && here !== null ? !!significant[f] : null, point: world };
      render();
    }
    let down = null;
    canvas.addEventListener("pointerdown", (ev) => { down = [ev.clientX, ev.clientY]; });
    canvas.addEventListener("pointerup", (ev) => {
      if (down && Math.hypot(ev.clientX - down[0], ev.clientY - down[1]) < 4) show(hitAt(ev.clientX, ev.clientY));
      down = null;
    });
    select.addEventListener("change", () => colourBy(select.value));
    $("twin-viewer-home").addEventListener("click", home);
    new ResizeObserver(resize).observe(canvas);
    resize();
    home();
    colourBy(select.value || "element");
    Object.assign(api, {
      ready: true, faces: nf, three: THREE.REVISION, colourBy, home,
      screenOf(world) {  // a world point's position in the window (CSS pixels)
        const v = new THREE.Vector3(world[0] - fr.centre[0], world[1] - fr.centre[1], world[2] - fr.centre[2]);
        v.project(camera);
        const r = canvas.getBoundingClientRect();
        return { x: r.left + (v.x + 1) / 2 * r.width, y: r.top + (1 - v.y) / 2 * r.height,
                 inside: Math.abs(v.x) < 1 && Math.abs(v.y) < 1 && v.z < 1 };
      },
    });
    say(`${nf.toLocaleString("en")} faces; drag to turn, right-drag or shift-drag to pan, wheel to zoom, `
        + "click a part for its element, phase, material" + (meta.change ? " and change." : "."));
  }
  main().catch((e) => {
    api.error = String((e && e.message) || e);
    say("The 3D view could not start: " + api.error, "warn");
    console.error(e);
  });
})();
"""
