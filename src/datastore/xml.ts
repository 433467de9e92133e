/**
 * A small XML reader and escaper for S3 response and request bodies. The minio client's own parser coerces
 * numeric-looking text into numbers (an object named `0123` would come back as `123`, `1e3` as `1000`), so
 * every response body fedsync reads is parsed here, where all text stays a string.
 */

export interface XmlElement {
  name: string;
  children: XmlElement[];
  /** Concatenated, entity-decoded character data directly inside this element. */
  text: string;
}

const namedEntities: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

function decodeEntities(raw: string): string {
  if (!raw.includes("&")) return raw;
  return raw.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, entity: string) => {
    if (entity.startsWith("#x")) return String.fromCodePoint(parseInt(entity.slice(2), 16));
    if (entity.startsWith("#")) return String.fromCodePoint(parseInt(entity.slice(1), 10));
    const named = namedEntities[entity];
    if (named === undefined) throw new Error(`unknown XML entity ${whole}`);
    return named;
  });
}

/** Local name of a tag (`s3:Key` -> `Key`), so a namespace prefix never hides an element. */
function localName(qualified: string): string {
  const colon = qualified.indexOf(":");
  return colon === -1 ? qualified : qualified.slice(colon + 1);
}

/** Parses a document and returns its root element. Attributes are ignored: S3 bodies carry data in text. */
export function parseXml(xml: string): XmlElement {
  const document: XmlElement = { name: "#document", children: [], text: "" };
  const stack: XmlElement[] = [document];
  let position = 0;
  while (position < xml.length) {
    const open = xml.indexOf("<", position);
    const current = stack[stack.length - 1] as XmlElement;
    if (open === -1) {
      current.text += decodeEntities(xml.slice(position));
      break;
    }
    if (open > position) current.text += decodeEntities(xml.slice(position, open));
    if (xml.startsWith("<?", open)) {
      position = expectEnd(xml, open, "?>");
    } else if (xml.startsWith("<!--", open)) {
      position = expectEnd(xml, open, "-->");
    } else if (xml.startsWith("<![CDATA[", open)) {
      const end = expectEnd(xml, open, "]]>");
      current.text += xml.slice(open + 9, end - 3);
      position = end;
    } else if (xml.startsWith("<!", open)) {
      position = expectEnd(xml, open, ">");
    } else if (xml.startsWith("</", open)) {
      const end = expectEnd(xml, open, ">");
      const name = localName(xml.slice(open + 2, end - 1).trim());
      if (stack.length < 2 || current.name !== name)
        throw new Error(`unexpected closing tag </${name}> in XML`);
      stack.pop();
      position = end;
    } else {
      const end = expectEnd(xml, open, ">");
      const selfClosing = xml[end - 2] === "/";
      const inner = xml.slice(open + 1, selfClosing ? end - 2 : end - 1);
      const nameMatch = /^[^\s/>]+/.exec(inner);
      if (!nameMatch) throw new Error("malformed XML tag");
      const element: XmlElement = { name: localName(nameMatch[0]), children: [], text: "" };
      current.children.push(element);
      if (!selfClosing) stack.push(element);
      position = end;
    }
  }
  if (stack.length !== 1) throw new Error("truncated XML document");
  const root = document.children[0];
  if (!root) throw new Error("empty XML document");
  return root;
}

function expectEnd(xml: string, from: number, terminator: string): number {
  const at = xml.indexOf(terminator, from + 1);
  if (at === -1) throw new Error("truncated XML document");
  return at + terminator.length;
}

export function childElements(parent: XmlElement, name: string): XmlElement[] {
  return parent.children.filter((element) => element.name === name);
}

export function childElement(parent: XmlElement, name: string): XmlElement | undefined {
  return parent.children.find((element) => element.name === name);
}

export function childText(parent: XmlElement, name: string): string | undefined {
  return childElement(parent, name)?.text;
}

/**
 * Escapes text for element content. Tab, newline and carriage return become character references, so a
 * parser's line-end normalisation cannot change them.
 */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"'\t\n\r]/g, (c) => {
    switch (c) {
      case "&":
        return "&amp;";
      case "<":
        return "&lt;";
      case ">":
        return "&gt;";
      case '"':
        return "&quot;";
      case "'":
        return "&apos;";
      default:
        return `&#${c.charCodeAt(0)};`;
    }
  });
}

/** True when `text` can be written in an XML 1.0 document at all (no control characters but tab/LF/CR). */
export function isXmlSafe(text: string): boolean {
  // eslint-disable-next-line no-control-regex
  return !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/.test(text);
}
