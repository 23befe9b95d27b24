// Public surface of rendering.
export { renderPlan, localConfDir, etcdServerHostList, CONTAINER_CONF_DIR, PROXY_CONTAINER_CONFIG } from './render.ts';
export { writeRendered } from './write.ts';
export { RenderError } from './escape.ts';
