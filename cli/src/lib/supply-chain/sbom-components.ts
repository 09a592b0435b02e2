import { readJsonFile } from './files.js';
import type { InstalledPackage } from './installed.js';

/**
 * The components of a CycloneDX JSON SBOM (an image's, e.g. from syft or trivy) as the packages the
 * release gate checks: npm packages (`pkg:npm/…`) and Debian packages
 * (`pkg:deb/debian/NAME@VERSION?arch=…&distro=debian-13&upstream=SOURCE`). Anything else is listed
 * as not checked, never silently dropped.
 */
export interface SbomPackages {
  packages: InstalledPackage[];
  /** Components the gate has no advisory data for (other purl types, no purl). */
  unchecked: { name: string; version?: string; purl?: string; why: string }[];
  /** Components it cannot place (a Debian package without a known release): these fail the gate. */
  problems: string[];
}

interface Purl {
  type: string;
  namespace: string[];
  name: string;
  version?: string;
  qualifiers: Record<string, string>;
}

/** Parses a package URL (https://github.com/package-url/purl-spec); undefined when it is not one. */
export function parsePurl(text: string): Purl | undefined {
  const m = /^pkg:([a-zA-Z][a-zA-Z0-9.+-]*)\/([^?#]+?)(?:\?([^#]*))?(?:#.*)?$/.exec(text.trim());
  if (!m) return undefined;
  let path = m[2]!;
  let version: string | undefined;
  const at = path.lastIndexOf('@');
  if (at > 0) {
    version = decodeURIComponent(path.slice(at + 1));
    path = path.slice(0, at);
  }
  const segments = path
    .split('/')
    .filter((s) => s !== '')
    .map(decodeURIComponent);
  const name = segments.pop();
  if (!name) return undefined;
  const qualifiers: Record<string, string> = {};
  for (const pair of (m[3] ?? '').split('&').filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq > 0) qualifiers[pair.slice(0, eq).toLowerCase()] = decodeURIComponent(pair.slice(eq + 1));
  }
  return { type: m[1]!.toLowerCase(), namespace: segments, name, ...(version ? { version } : {}), qualifiers };
}

const DEBIAN_CODENAMES: Record<string, string> = { buster: '10', bullseye: '11', bookworm: '12', trixie: '13', forky: '14' };

/** `distro=debian-13`, `distro=debian-13.2`, `distro=trixie` → `Debian:13`. */
export function debianEcosystem(distro: string | undefined): string | undefined {
  if (!distro) return undefined;
  const numbered = /^debian-(\d+)(?:\.\d+)*$/i.exec(distro);
  if (numbered) return `Debian:${numbered[1]}`;
  const release = DEBIAN_CODENAMES[distro.toLowerCase()];
  return release ? `Debian:${release}` : undefined;
}

interface BomLicense {
  license?: { id?: string; name?: string };
  expression?: string;
}

/** CycloneDX `licenses` → one SPDX expression (several entries must all hold: AND); undefined when none. */
export function sbomLicense(licenses: unknown): string | undefined {
  if (!Array.isArray(licenses)) return undefined;
  const parts = (licenses as BomLicense[])
    .map((l) => l?.expression ?? l?.license?.id ?? l?.license?.name)
    .filter((t): t is string => typeof t === 'string' && t.trim() !== '');
  if (parts.length <= 1) return parts[0];
  return parts.map((p) => (/\s/.test(p) ? `(${p})` : p)).join(' AND ');
}

interface BomComponent {
  name?: string;
  version?: string;
  purl?: string;
  licenses?: unknown;
  components?: BomComponent[];
}

export function packagesFromSbom(bom: { components?: unknown }): SbomPackages {
  const packages = new Map<string, InstalledPackage>();
  const unchecked: SbomPackages['unchecked'] = [];
  const problems: string[] = [];
  const visit = (component: BomComponent) => {
    for (const child of component.components ?? []) visit(child);
    const label = component.purl ?? `${component.name ?? '(unnamed)'}@${component.version ?? '?'}`;
    const purl = component.purl ? parsePurl(component.purl) : undefined;
    if (!purl?.version) {
      unchecked.push({
        name: component.name ?? '(unnamed)',
        ...(component.version ? { version: component.version } : {}),
        ...(component.purl ? { purl: component.purl } : {}),
        why: purl ? 'its purl has no version' : 'no package URL',
      });
      return;
    }
    let pkg: InstalledPackage;
    if (purl.type === 'npm') {
      const license = sbomLicense(component.licenses);
      pkg = {
        name: [...purl.namespace, purl.name].join('/'),
        version: purl.version,
        ...(license ? { license } : {}),
        paths: [],
        ecosystem: 'npm',
      };
    } else if (purl.type === 'deb' && purl.namespace[0]?.toLowerCase() === 'debian') {
      const ecosystem = debianEcosystem(purl.qualifiers.distro);
      if (!ecosystem) {
        problems.push(`${label}: no Debian release in its distro qualifier, so no advisory data applies`);
        return;
      }
      const source = purl.qualifiers.upstream?.split('@')[0];
      pkg = {
        name: purl.name,
        version: purl.version,
        paths: [],
        ecosystem,
        ...(source && source !== purl.name ? { sourceName: source } : {}),
      };
    } else {
      unchecked.push({
        name: purl.name,
        version: purl.version,
        purl: component.purl,
        why: `no advisory data for pkg:${purl.type}`,
      });
      return;
    }
    packages.set(`${pkg.ecosystem}|${pkg.name}@${pkg.version}`, pkg);
  };
  if (!Array.isArray(bom.components)) problems.push('the SBOM has no components array');
  else for (const c of bom.components as BomComponent[]) visit(c);
  return {
    packages: [...packages.values()].sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version)),
    unchecked,
    problems,
  };
}

/** What the gate's report says about the SBOM it checked. */
export interface SbomSummary {
  path: string;
  npm: number;
  debian: number;
  unchecked: SbomPackages['unchecked'];
  problems: string[];
}

/** Reads a CycloneDX JSON file: the packages to check and the report's summary of them. */
export function readSbomPackages(path: string): { packages: InstalledPackage[]; summary: SbomSummary } {
  const { packages, unchecked, problems } = packagesFromSbom(readJsonFile(path, 'SBOM') as { components?: unknown });
  const npm = packages.filter((p) => p.ecosystem === 'npm').length;
  return { packages, summary: { path, npm, debian: packages.length - npm, unchecked, problems } };
}
