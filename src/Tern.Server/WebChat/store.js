// What the page keeps in this browser's localStorage: the conversations, the settings and the API key.

const CONVERSATIONS = "tern.conversations";
const CURRENT = "tern.current";
const SETTINGS = "tern.settings";
const KEY = "tern.apiKey";

function read(name, fallback) {
  try {
    return JSON.parse(localStorage.getItem(name)) ?? fallback;
  } catch {
    return fallback;
  }
}

export const loadConversations = () => read(CONVERSATIONS, []);
export const saveConversations = (conversations) => localStorage.setItem(CONVERSATIONS, JSON.stringify(conversations));
export const loadCurrent = () => localStorage.getItem(CURRENT);
export const saveCurrent = (id) => (id ? localStorage.setItem(CURRENT, id) : localStorage.removeItem(CURRENT));
export const loadSettings = () => read(SETTINGS, {});
export const saveSettings = (settings) => localStorage.setItem(SETTINGS, JSON.stringify(settings));
export const loadKey = () => localStorage.getItem(KEY) ?? "";
export const saveKey = (key) => (key ? localStorage.setItem(KEY, key) : localStorage.removeItem(KEY));
