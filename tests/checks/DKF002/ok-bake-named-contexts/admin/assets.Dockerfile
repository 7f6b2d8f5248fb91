FROM node:22.11.0-alpine AS assets
WORKDIR /a
COPY package.json package-lock.json ./
RUN npm ci
