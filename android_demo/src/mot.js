// A session as an OpenSim .mot (the header d3ke_edge/io/mot.py writes; rotational coordinates in degrees).

export function motText(name, coordinateNames, motionTypes, rows, header = {}) {
  const deg = motionTypes.map((t) => t !== 'translational');  // coupled coordinates are angles too (mot.py)
  const lines = [name, 'version=1', `nRows=${rows.length}`, `nColumns=${coordinateNames.length + 1}`, 'inDegrees=yes'];
  for (const [k, v] of Object.entries(header)) lines.push(`${k}=${String(v).replace(/\n/g, ' ').replace(/=/g, ':')}`);
  lines.push('endheader', ['time', ...coordinateNames].join('\t'));
  for (const {time, coordinates} of rows) {
    const vals = coordinates.map((v, i) => (deg[i] ? v * 180 / Math.PI : v));
    lines.push([time, ...vals].map((v) => Number(v.toPrecision(12)).toString()).join('\t'));
  }
  return lines.join('\n') + '\n';
}
