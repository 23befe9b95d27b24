# The runtime image: one image for every role (monitor, proxy, node, web). The CDKTF stacks build
# it on each Docker host and start a role with
#   node --import tsx runtime/<role>/main.ts --config <rendered config file>
# exactly like the local launcher does.
FROM node:20-slim

WORKDIR /app
ENV NODE_ENV=production

COPY package.json package-lock.json ./
# tsx is in "dependencies" (the roles run their .ts entry files directly), so --omit=dev keeps it.
# CDKTF and the Docker provider bindings are deploy-time only and are dropped from the image.
RUN npm ci --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/cdktf node_modules/@cdktf node_modules/constructs \
 && npm cache clean --force

COPY tsconfig.json ./
COPY runtime ./runtime

# /data is each role's data dir and /data/bases the nodes' shared base storage (named volumes);
# a new volume copies the ownership of the folder it is mounted on.
RUN mkdir -p /data/bases /opt/dtable-cluster/conf \
 && chown -R node:node /data
USER node

EXPOSE 5000 5550 5555 8000 9105
CMD ["node", "-e", "console.error('start a role: node --import tsx runtime/<monitor|proxy|node|web>/main.ts --config FILE'); process.exit(2)"]
