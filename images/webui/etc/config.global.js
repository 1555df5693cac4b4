/*
 * Web UI settings as the contrail-openstack-webui package installs them (abridged sample for the stand-in).
 * The entrypoint sets the service addresses; everything else keeps these defaults.
 */
var config = {};

config.orchestration = {};
config.orchestration.Manager = 'openstack';

config.serviceEndPointFromConfig = true;
config.regionsFromConfig = false;

config.networkManager = {};
config.networkManager.ip = '127.0.0.1';
config.networkManager.port = '9696';
config.networkManager.authProtocol = 'http';
config.networkManager.apiVersion = [];
config.networkManager.strictSSL = false;

config.imageManager = {};
config.imageManager.ip = '127.0.0.1';
config.imageManager.port = '9292';
config.imageManager.authProtocol = 'http';
config.imageManager.apiVersion = ['v1', 'v2'];

config.computeManager = {};
config.computeManager.ip = '127.0.0.1';
config.computeManager.port = '8774';
config.computeManager.authProtocol = 'http';
config.computeManager.apiVersion = ['v1.1', 'v2'];

config.identityManager = {};
config.identityManager.ip = '127.0.0.1';
config.identityManager.port = '5000';
config.identityManager.authProtocol = 'http';
config.identityManager.apiVersion = ['v2.0'];

config.storageManager = {};
config.storageManager.ip = '127.0.0.1';
config.storageManager.port = '8776';
config.storageManager.authProtocol = 'http';
config.storageManager.apiVersion = ['v1'];

config.cnfg = {};
config.cnfg.server_ip = '127.0.0.1';
config.cnfg.server_port = '8082';
config.cnfg.authProtocol = 'http';

config.analytics = {};
config.analytics.server_ip = '127.0.0.1';
config.analytics.server_port = '8081';
config.analytics.authProtocol = 'http';

config.cassandra = {};
config.cassandra.server_ips = ['127.0.0.1'];
config.cassandra.server_port = '9160';
config.cassandra.enable_edit = false;

config.jobServer = {};
config.jobServer.server_ip = '127.0.0.1';
config.jobServer.server_port = '3000';

config.files = {};
config.files.download_path = '/tmp';

config.kue = {};
config.kue.ui_port = '3002';

config.webui_addresses = ['0.0.0.0'];
config.insecure_access = false;
config.http_port = '8080';
config.https_port = '8143';
config.require_auth = false;
config.node_worker_count = 1;
config.maxActiveJobs = 10;
config.redisDBIndex = 3;

config.redis_server_port = '6379';
config.redis_server_ip = '127.0.0.1';

config.logs = {};
config.logs.level = 'debug';

module.exports = config;
